// One copy of one register-file bank: RF_DEPTH words of B fp32 lanes, one write port and
// NUM_RD combinational read ports (docs/architecture.md: "each bank copy is 1-write; its read
// ports are replicas"; distributed RAM). The read is write-first: a word being written in this
// cycle is returned already (the bypass below), so a read registered at the edge that writes
// the word sees it. The schedule counts on it (docs/isa.md: readable at L - 1). rill_regfile
// selects the bank and registers the read.
//
// Simulation backdoor: with +rill_const=<file> on the command line, a bank built with
// INIT_CONST=1 (bank 0, the constant bank) is preloaded by $readmemh (one word per line,
// lane i in bits [32i +: 32]).
module rill_rf_bank #(
  parameter int unsigned B          = 8,
  parameter int unsigned RF_DEPTH   = 64,
  parameter int unsigned NUM_RD     = 4,
  parameter bit          INIT_CONST = 1'b0,
  localparam int unsigned IdxW      = $clog2(RF_DEPTH),
  localparam int unsigned WordW     = B * 32
) (
  input  logic             clk_i,
  // the memory needs no reset; kept for the uniform port list
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic             rst_ni,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic             we_i,
  input  logic [IdxW-1:0]  waddr_i,
  input  logic [WordW-1:0] wdata_i,
  input  logic [IdxW-1:0]  raddr_i [NUM_RD],
  output logic [WordW-1:0] rdata_o [NUM_RD]
);

  logic [WordW-1:0] mem_q [RF_DEPTH];

  always_comb begin
    for (int unsigned p = 0; p < NUM_RD; p++) begin
      rdata_o[p] = (we_i && waddr_i == raddr_i[p]) ? wdata_i : mem_q[raddr_i[p]];
    end
  end

  // memory array: no reset (banks 1.. are zeroed by the top's clear sequence)
  always_ff @(posedge clk_i) begin
    if (we_i) begin
      mem_q[waddr_i] <= wdata_i;
    end
  end

`ifndef SYNTHESIS
  initial begin : gen_backdoor
    string fname;
    if (INIT_CONST && $value$plusargs("rill_const=%s", fname)) begin
      $readmemh(fname, mem_q);
    end
  end
`endif

endmodule
