// rill accelerator top: wiring only (docs/isa.md, docs/architecture.md). NUM_CORES lockstep
// cores share broadcast register-file write buses, driven by rill_rf_wbus. rill_ctrl holds the
// load-port decode, control registers, control FSM, clear sequencer and status; rill_in_stream
// converts and writes the input beats; rill_out_stream merges the OUT beats into the output
// FIFO.
//
// Load port (one word per cycle, load_valid_i; load_sel_i is an isa.LoadSel):
//   LOAD_IMEM   imem of core load_core_i, addr = bundle index, data[BundleW-1:0] = bundle
//   LOAD_WMEM   wmem of core load_core_i, addr = block*B + row, data[B*16-1:0] = row (col j at 16j)
//   LOAD_CONST  constant bank (bank 0) of every core, addr = idx, data[B*32-1:0] (lane i at 32i)
//   LOAD_CTRL   control registers (isa.CtrlReg): addr CTRL_PROG_LEN P, CTRL_N_IN n_in,
//               CTRL_N_OUT n_out (data[CTRL_DATA_BITS-1:0]) of model 0; the model table at
//               {model, field} and CTRL_MODEL_SELECT (rill_ctrl, docs/isa.md "Several models")
// clear_i and status_o (status_t, isa.Status): see rill_ctrl.
`include "rill_assert.svh"

module rill_top
  import rill_pkg::*;
#(
  parameter int unsigned NUM_CORES      = 1,
  parameter int unsigned B              = 8,
  parameter int unsigned WEIGHT_DEPTH   = 256,
  parameter int unsigned RF_DEPTH       = 64,
  parameter int unsigned INSTR_DEPTH    = 1024,
  parameter int unsigned OUT_FIFO_DEPTH = 64,
  localparam int unsigned NumBanks      = num_banks(NUM_CORES),
  localparam int unsigned IdxW          = idx_bits(RF_DEPTH),
  localparam int unsigned WAddrW        = waddr_bits(WEIGHT_DEPTH),
  localparam int unsigned LWAddrW       = WAddrW + $clog2(B),
  localparam int unsigned PcW           = $clog2(INSTR_DEPTH),
  localparam int unsigned BundleW       = bundle_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned WordW         = B * 32,
  localparam int unsigned LoadW         = (WordW > BundleW) ? WordW : BundleW,
  localparam int unsigned CoreW         = (NUM_CORES > 1) ? $clog2(NUM_CORES) : 1
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  // input stream: B bf16 lanes per beat, lane i in bits [16i +: 16]
  input  logic               in_valid_i,
  output logic               in_ready_o,
  input  logic [B*16-1:0]    in_data_i,
  input  logic               in_last_i,
  // output stream (data and last stable while valid & !ready)
  output logic               out_valid_o,
  input  logic               out_ready_i,
  output logic [B*16-1:0]    out_data_o,
  output logic               out_last_o,
  // load port
  input  logic               load_valid_i,
  input  load_sel_e          load_sel_i,
  input  logic [CoreW-1:0]   load_core_i,
  // only the low bits the addressed memory needs are used; 32 bits keeps the port config-free
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic [31:0]        load_addr_i,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [LoadW-1:0]   load_data_i,
  // control / status
  input  logic               clear_i,
  output status_t            status_o
);

  // ---------------------------------------------------------------------------------------
  // controller
  logic                      ld_imem, ld_wmem, ld_const;
  logic [CTRL_DATA_BITS-1:0] n_in_last, n_out_last;
  logic [$clog2(OUT_FIFO_DEPTH+1):0] out_room_lim;  // rill_ctrl's LimW
  logic                      in_enable, in_done, in_last_err;
  logic                      out_room, out_ovf, out_multi;
  logic                      issue, any_illegal, clear, clr_act;
  logic                      fetch_first, fetch_first_ld;
  logic [PcW-1:0]            fetch_addr, fetch_base;
  logic [IdxW-1:0]           clr_idx;
  logic [NUM_CORES-1:0]      core_illegal, core_push;
  logic [B*16-1:0]           core_out [NUM_CORES];

  assign any_illegal = |core_illegal;

  rill_ctrl #(
    .RF_DEPTH      (RF_DEPTH),
    .INSTR_DEPTH   (INSTR_DEPTH),
    .OUT_FIFO_DEPTH(OUT_FIFO_DEPTH)
  ) u_ctrl (
    .clk_i,
    .rst_ni,
    .load_valid_i,
    .load_sel_i,
    .ctrl_addr_i  (load_addr_i[CTRL_ADDR_BITS-1:0]),
    .ctrl_data_i  (load_data_i[CTRL_DATA_BITS-1:0]),
    .ld_imem_o    (ld_imem),
    .ld_wmem_o    (ld_wmem),
    .ld_const_o   (ld_const),
    .n_in_last_o   (n_in_last),
    .n_out_last_o  (n_out_last),
    .out_room_lim_o(out_room_lim),
    .in_enable_o  (in_enable),
    .in_done_i    (in_done),
    .in_last_err_i(in_last_err),
    .out_room_i   (out_room),
    .out_ovf_i    (out_ovf),
    .out_multi_i  (out_multi),
    .issue_o      (issue),
    .fetch_first_o(fetch_first),
    .fetch_addr_o (fetch_addr),
    .base_o       (fetch_base),
    .first_ld_o   (fetch_first_ld),
    .illegal_i    (any_illegal),
    .clear_i,
    .clear_o      (clear),
    .clr_act_o    (clr_act),
    .clr_idx_o    (clr_idx),
    .status_o
  );

  // ---------------------------------------------------------------------------------------
  // input stream -> input bank
  logic             in_wr_en;
  logic [IdxW-1:0]  in_wr_idx;
  logic [WordW-1:0] in_wr_data;

  rill_in_stream #(
    .B       (B),
    .RF_DEPTH(RF_DEPTH)
  ) u_in_stream (
    .clk_i,
    .rst_ni,
    .in_valid_i,
    .in_ready_o,
    .in_data_i,
    .in_last_i,
    .enable_i  (in_enable),
    .n_last_i  (n_in_last),
    .clear_i   (clear),
    .done_o    (in_done),
    .last_err_o(in_last_err),
    .wr_en_o   (in_wr_en),
    .wr_idx_o  (in_wr_idx),
    .wr_data_o (in_wr_data)
  );

  // ---------------------------------------------------------------------------------------
  // register-file write buses
  logic             bus_en   [NumBanks];
  logic [IdxW-1:0]  bus_idx  [NumBanks];
  logic [WordW-1:0] bus_data [NumBanks];
  logic             m_en   [NUM_CORES];
  logic [IdxW-1:0]  m_idx  [NUM_CORES];
  logic [WordW-1:0] m_data [NUM_CORES];
  logic             m_fwd_en   [NUM_CORES];  // the MACC forward, to every core
  logic [IdxW-1:0]  m_fwd_idx  [NUM_CORES];
  logic [WordW-1:0] m_fwd_data [NUM_CORES];
  logic             v_fwd_en   [NUM_CORES];  // the vector forward, to every core
  logic [IdxW-1:0]  v_fwd_idx  [NUM_CORES];
  logic [WordW-1:0] v_fwd_data [NUM_CORES];
  logic             v_en   [NUM_CORES];
  logic [IdxW-1:0]  v_idx  [NUM_CORES];
  logic [WordW-1:0] v_data [NUM_CORES];

  rill_rf_wbus #(
    .NUM_CORES(NUM_CORES),
    .B        (B),
    .RF_DEPTH (RF_DEPTH)
  ) u_rf_wbus (
    .clk_i,
    .rst_ni,
    .const_en_i  (ld_const),
    .const_idx_i (load_addr_i[IdxW-1:0]),
    .const_data_i(load_data_i[WordW-1:0]),
    .in_en_i     (in_wr_en),
    .in_idx_i    (in_wr_idx),
    .in_data_i   (in_wr_data),
    .m_en_i      (m_en),
    .m_idx_i     (m_idx),
    .m_data_i    (m_data),
    .v_en_i      (v_en),
    .v_idx_i     (v_idx),
    .v_data_i    (v_data),
    .clr_act_i   (clr_act),
    .clr_idx_i   (clr_idx),
    .bus_en_o    (bus_en),
    .bus_idx_o   (bus_idx),
    .bus_data_o  (bus_data)
  );

  // ---------------------------------------------------------------------------------------
  // cores
  for (genvar c = 0; c < NUM_CORES; c++) begin : gen_core
    logic sel;
    assign sel = (32'(load_core_i) == c);

    rill_core #(
      .NUM_CORES   (NUM_CORES),
      .B           (B),
      .WEIGHT_DEPTH(WEIGHT_DEPTH),
      .RF_DEPTH    (RF_DEPTH),
      .INSTR_DEPTH (INSTR_DEPTH),
      .CORE_ID     (c)
    ) u_core (
      .clk_i,
      .rst_ni,
      .fetch_first_i(fetch_first),
      .fetch_addr_i (fetch_addr),
      .fetch_base_i (fetch_base),
      .fetch_first_ld_i(fetch_first_ld),
      .issue_i     (issue),
      .illegal_o   (core_illegal[c]),
      .imem_we_i   (ld_imem && sel),
      .imem_waddr_i(load_addr_i[PcW-1:0]),
      .imem_wdata_i(load_data_i[BundleW-1:0]),
      .wmem_we_i   (ld_wmem && sel),
      .wmem_waddr_i(load_addr_i[LWAddrW-1:0]),
      .wmem_wdata_i(load_data_i[B*16-1:0]),
      .rf_wr_en_i  (bus_en),
      .rf_wr_idx_i (bus_idx),
      .rf_wr_data_i(bus_data),
      .m_wr_en_o   (m_en[c]),
      .m_wr_idx_o  (m_idx[c]),
      .m_wr_data_o (m_data[c]),
      .m_fwd_en_o  (m_fwd_en[c]),
      .m_fwd_idx_o (m_fwd_idx[c]),
      .m_fwd_data_o(m_fwd_data[c]),
      .m_fwd_en_i  (m_fwd_en),
      .m_fwd_idx_i (m_fwd_idx),
      .m_fwd_data_i(m_fwd_data),
      .v_fwd_en_o  (v_fwd_en[c]),
      .v_fwd_idx_o (v_fwd_idx[c]),
      .v_fwd_data_o(v_fwd_data[c]),
      .v_fwd_en_i  (v_fwd_en),
      .v_fwd_idx_i (v_fwd_idx),
      .v_fwd_data_i(v_fwd_data),
      .v_wr_en_o   (v_en[c]),
      .v_wr_idx_o  (v_idx[c]),
      .v_wr_data_o (v_data[c]),
      .out_push_o  (core_push[c]),
      .out_data_o  (core_out[c])
    );
  end

  // ---------------------------------------------------------------------------------------
  // output stream
  rill_out_stream #(
    .NUM_CORES     (NUM_CORES),
    .B             (B),
    .OUT_FIFO_DEPTH(OUT_FIFO_DEPTH)
  ) u_out_stream (
    .clk_i,
    .rst_ni,
    .push_i     (core_push),
    .data_i     (core_out),
    .n_last_i   (n_out_last),
    .room_lim_i (out_room_lim),
    .clear_i    (clear),
    .room_o     (out_room),
    .ovf_o      (out_ovf),
    .multi_o    (out_multi),
    .out_valid_o,
    .out_ready_i,
    .out_data_o,
    .out_last_o
  );

  // ---------------------------------------------------------------------------------------
  // assertions: outputs known after reset
  `ASSERT_KNOWN(InReadyKnown_A, in_ready_o, clk_i, rst_ni)
  `ASSERT_KNOWN(OutValidKnown_A, out_valid_o, clk_i, rst_ni)
  `ASSERT_KNOWN(OutBeatKnown_A, out_valid_o ? {out_data_o, out_last_o} : '0, clk_i, rst_ni)
  `ASSERT_KNOWN(StatusKnown_A, status_o, clk_i, rst_ni)

endmodule
