// rill register-file write buses, one per bank, broadcast to every core's bank copies:
// bank 0 (BANK_CONST) from the load port, bank 1 (BANK_INPUT) from the input stream, banks
// matrix_bank(c) / vector_bank(c) from core c's matrix / vector unit. While clearing, every bank
// but bank 0 is written with zero at clr_idx_i (nothing else may write them then: asserted).
`include "rill_assert.svh"

module rill_rf_wbus
  import rill_pkg::*;
#(
  parameter int unsigned NUM_CORES = 1,
  parameter int unsigned B         = 8,
  parameter int unsigned RF_DEPTH  = 64,
  localparam int unsigned NumBanks = num_banks(NUM_CORES),
  localparam int unsigned IdxW     = idx_bits(RF_DEPTH),
  localparam int unsigned WordW    = B * 32
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  // constant bank: load port
  input  logic             const_en_i,
  input  logic [IdxW-1:0]  const_idx_i,
  input  logic [WordW-1:0] const_data_i,
  // input bank: input stream
  input  logic             in_en_i,
  input  logic [IdxW-1:0]  in_idx_i,
  input  logic [WordW-1:0] in_data_i,
  // the cores' matrix and vector write-backs
  input  logic             m_en_i   [NUM_CORES],
  input  logic [IdxW-1:0]  m_idx_i  [NUM_CORES],
  input  logic [WordW-1:0] m_data_i [NUM_CORES],
  input  logic             v_en_i   [NUM_CORES],
  input  logic [IdxW-1:0]  v_idx_i  [NUM_CORES],
  input  logic [WordW-1:0] v_data_i [NUM_CORES],
  // clear sequencer
  input  logic             clr_act_i,
  input  logic [IdxW-1:0]  clr_idx_i,
  // one bus per bank
  output logic             bus_en_o   [NumBanks],
  output logic [IdxW-1:0]  bus_idx_o  [NumBanks],
  output logic [WordW-1:0] bus_data_o [NumBanks]
);

  always_comb begin
    bus_en_o[BANK_CONST]   = const_en_i;
    bus_idx_o[BANK_CONST]  = const_idx_i;
    bus_data_o[BANK_CONST] = const_data_i;
    bus_en_o[BANK_INPUT]   = in_en_i;
    bus_idx_o[BANK_INPUT]  = in_idx_i;
    bus_data_o[BANK_INPUT] = in_data_i;
    for (int unsigned c = 0; c < NUM_CORES; c++) begin
      bus_en_o[matrix_bank(c)]   = m_en_i[c];
      bus_idx_o[matrix_bank(c)]  = m_idx_i[c];
      bus_data_o[matrix_bank(c)] = m_data_i[c];
      bus_en_o[vector_bank(c)]   = v_en_i[c];
      bus_idx_o[vector_bank(c)]  = v_idx_i[c];
      bus_data_o[vector_bank(c)] = v_data_i[c];
    end
    if (clr_act_i) begin
      for (int unsigned k = BANK_INPUT; k < NumBanks; k++) begin
        bus_en_o[k]   = 1'b1;
        bus_idx_o[k]  = clr_idx_i;
        bus_data_o[k] = '0;
      end
    end
  end

  // ---------------------------------------------------------------------------------------
  // assertions: at most one write per bank per edge (the clear shares banks 1..; every other
  // bank has a single source). Bank-internal collisions (two vector write-backs) are asserted
  // in rill_vector_unit.
  `ASSERT_NEVER(InputBankOneWrite_A, clr_act_i && in_en_i, clk_i, rst_ni)
  for (genvar c = 0; c < NUM_CORES; c++) begin : gen_core_bank_asserts
    `ASSERT_NEVER(MatrixBankOneWrite_A, clr_act_i && m_en_i[c], clk_i, rst_ni)
    `ASSERT_NEVER(VectorBankOneWrite_A, clr_act_i && v_en_i[c], clk_i, rst_ni)
  end
  for (genvar k = 0; k < NumBanks; k++) begin : gen_bus_asserts
    `ASSERT_KNOWN(BusEnKnown_A, bus_en_o[k], clk_i, rst_ni)
  end

endmodule
