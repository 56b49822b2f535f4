// A core's register file: its copy of every bank (0 const, 1 input, 2+2c matrix c, 3+2c vector c),
// each written by that bank's broadcast write bus, and four read ports (x, acc, a, b), each
// addressed by {bank, idx}. A read port's path in its address cycle: the bank copies' write-first
// reads, the bank select, the MAC override, then the read register (rd_data_o, valid the cycle
// after the address) — the units see a register, not the select (docs/architecture.md, "Timing").
// The acc port (1) has one more source per matrix bank: with acc_fwd_i[c] its read of matrix
// bank c takes acc_fwd_data_i[c], core c's matrix result one cycle before it reaches that
// bank's write bus (the MACC forward): a third input to the bank copy's write-first select.
// Ports x (0), a (2) and b (3) likewise take core c's ADD/SUB, MUL or activation result
// (v_fwd_data_i[c]) for its vector bank with x_fwd_i[c] / a_fwd_i[c] / b_fwd_i[c] (the vector
// forward), and core c's matrix result (acc_fwd_data_i[c]) for its matrix bank with
// xm_fwd_i[c] / am_fwd_i[c] / bm_fwd_i[c] (the matrix forward: a MAC result read by a vector
// op or a matrix op's x a cycle before its write edge, as the acc port reads it).
module rill_regfile #(
  parameter int unsigned NUM_CORES = 1,
  parameter int unsigned B         = 8,
  parameter int unsigned RF_DEPTH  = 64,
  localparam int unsigned NumBanks = rill_pkg::num_banks(NUM_CORES),
  localparam int unsigned BankW    = rill_pkg::bank_bits(NUM_CORES),
  localparam int unsigned IdxW     = rill_pkg::idx_bits(RF_DEPTH),
  localparam int unsigned AddrW    = BankW + IdxW,
  localparam int unsigned WordW    = B * 32,
  localparam int unsigned NumRd    = 4,
  localparam int unsigned XPort    = 0,
  localparam int unsigned AccPort  = 1,
  localparam int unsigned APort    = 2,
  localparam int unsigned BPort    = 3
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  // one write bus per bank
  input  logic             wr_en_i   [NumBanks],
  input  logic [IdxW-1:0]  wr_idx_i  [NumBanks],
  input  logic [WordW-1:0] wr_data_i [NumBanks],
  // read ports: 0 x, 1 acc, 2 a, 3 b; data valid the cycle after the address. rd_nz_i reads
  // -0.0 in every lane instead (the accumulator of a MAC: x + -0.0 = x for every x)
  input  logic [AddrW-1:0] rd_addr_i [NumRd],
  input  logic             rd_nz_i   [NumRd],
  input  logic             acc_fwd_i      [NUM_CORES],
  input  logic [WordW-1:0] acc_fwd_data_i [NUM_CORES],
  input  logic             x_fwd_i        [NUM_CORES],
  input  logic             a_fwd_i        [NUM_CORES],
  input  logic             b_fwd_i        [NUM_CORES],
  input  logic [WordW-1:0] v_fwd_data_i   [NUM_CORES],
  input  logic             xm_fwd_i       [NUM_CORES],
  input  logic             am_fwd_i       [NUM_CORES],
  input  logic             bm_fwd_i       [NUM_CORES],
  output logic [WordW-1:0] rd_data_o [NumRd]
);

  logic [IdxW-1:0]  rd_idx [NumRd];
  logic [BankW-1:0] rd_bank [NumRd];
  logic [WordW-1:0] bank_rdata [NumBanks][NumRd];
  logic [WordW-1:0] rd_data_d [NumRd];
  logic [WordW-1:0] rd_data_q [NumRd];

  always_comb begin
    for (int unsigned p = 0; p < NumRd; p++) begin
      rd_idx[p]  = rd_addr_i[p][IdxW-1:0];
      rd_bank[p] = rd_addr_i[p][AddrW-1:IdxW];
    end
  end

  for (genvar k = 0; k < NumBanks; k++) begin : gen_bank
    rill_rf_bank #(
      .B         (B),
      .RF_DEPTH  (RF_DEPTH),
      .NUM_RD    (NumRd),
      .INIT_CONST(k == 0)
    ) u_bank (
      .clk_i,
      .rst_ni,
      .we_i   (wr_en_i[k]),
      .waddr_i(wr_idx_i[k]),
      .wdata_i(wr_data_i[k]),
      .raddr_i(rd_idx),
      .rdata_o(bank_rdata[k])
    );
  end

  // bank select (an illegal bank >= NumBanks reads zero; the core flags it as illegal), then
  // the -0.0 override: one more 2-input function per bit
  always_comb begin
    for (int unsigned p = 0; p < NumRd; p++) begin
      logic [WordW-1:0] sel;
      sel = '0;
      for (int unsigned k = 0; k < NumBanks; k++) begin
        if (32'(rd_bank[p]) == k) begin
          sel = bank_rdata[k][p];
          // the accumulator and matrix forwards from core (k - 2) / 2 when k is its matrix
          // bank (never with the override: acc_fwd_i is only set for a MACC, and the other
          // ports have none)
          for (int unsigned c = 0; c < NUM_CORES; c++) begin
            if (((p == AccPort && acc_fwd_i[c]) || (p == XPort && xm_fwd_i[c]) ||
                 (p == APort && am_fwd_i[c]) || (p == BPort && bm_fwd_i[c])) &&
                k == rill_pkg::matrix_bank(c)) begin
              sel = acc_fwd_data_i[c];
            end
            // ports x, a and b: the vector forward from core c's vector bank
            if (((p == XPort && x_fwd_i[c]) || (p == APort && a_fwd_i[c]) ||
                 (p == BPort && b_fwd_i[c])) &&
                k == rill_pkg::vector_bank(c)) begin
              sel = v_fwd_data_i[c];
            end
          end
        end
      end
      for (int unsigned i = 0; i < B; i++) begin
        rd_data_d[p][32*i +: 32] = {sel[32*i+31] | rd_nz_i[p], sel[32*i +: 31] & {31{!rd_nz_i[p]}}};
      end
    end
  end

  // the read register: data only, not reset
  always_ff @(posedge clk_i) begin
    rd_data_q <= rd_data_d;
  end

  assign rd_data_o = rd_data_q;

endmodule
