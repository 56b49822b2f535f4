// A core's instruction memory and fetch: INSTR_DEPTH bundles, written one bundle per cycle by
// the load port, read through two registers so that decode starts from a register, not from a
// block RAM's output (docs/architecture.md, "Timing"):
//   rd_q      the block RAM's read register: imem[rd_addr_i] of the previous cycle
//   bundle_q  the bundle of the cycle (bundle_o): first_q when first_i was high in the previous
//             cycle (the next pc is base), else rd_q
//   first_q   a copy of imem[base] (base_i: the selected model's first pc), written with it or
//             loaded from rd_q when first_ld_i (rill_ctrl's refresh after a model select, which
//             read imem[base] into rd_q the cycle before), so a program's first bundle waits in
//             the bundle register while the core is idle and pc base issues without a fetch
//             bubble
// rill_ctrl drives rd_addr_i with the pc one cycle after the next (pc + 2 in RUN, base + 1
// otherwise, base during a refresh), and does not start an inference in the cycle after an
// instruction-memory write (rd_q may hold the bundle from before it).
// No register here is reset: the core reads the bundle only when it issues, which is never in
// the first two cycles after reset.
//
// Simulation backdoor: +rill_imem<CORE_ID>=<file> preloads by $readmemh (one bundle per line,
// the little-endian bundle integer in hex); the copy of imem[0] is taken from it too.
module rill_imem #(
  parameter int unsigned WIDTH       = 64,
  parameter int unsigned INSTR_DEPTH = 1024,
  parameter int unsigned CORE_ID     = 0,
  localparam int unsigned AddrW      = $clog2(INSTR_DEPTH)
) (
  input  logic             clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic             rst_ni,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic             wr_en_i,
  input  logic [AddrW-1:0] wr_addr_i,
  input  logic [WIDTH-1:0] wr_data_i,
  input  logic             first_i,    // the next cycle's pc is base
  input  logic [AddrW-1:0] base_i,     // the selected model's first pc
  input  logic             first_ld_i,  // first_q <= rd_q (rd_q holds imem[base_i])
  input  logic [AddrW-1:0] rd_addr_i,  // the pc of the cycle after next
  output logic [WIDTH-1:0] bundle_o,
  output logic [WIDTH-1:0] bundle_next_o, // what bundle_o holds in the next cycle
  output logic [WIDTH-1:0] bundle_ahead_o  // the same in a run (imem[pc + 1]), from a register:
                                           // not the program's first bundle (first_q)
);

  logic [WIDTH-1:0] mem_q [INSTR_DEPTH];
  logic [WIDTH-1:0] rd_d, rd_q, first_q, bundle_d, bundle_q;

  assign rd_d = mem_q[rd_addr_i];

  always_ff @(posedge clk_i) begin
    if (wr_en_i) begin
      mem_q[wr_addr_i] <= wr_data_i;
    end
  end

  always_ff @(posedge clk_i) begin
    rd_q <= rd_d;
    if (wr_en_i && wr_addr_i == base_i) begin
      first_q <= wr_data_i;
    end else if (first_ld_i) begin
      first_q <= rd_q;
    end
    bundle_q <= bundle_d;
  end

  assign bundle_d      = first_i ? first_q : rd_q;
  assign bundle_o      = bundle_q;
  assign bundle_next_o = bundle_d;
  assign bundle_ahead_o = rd_q;

`ifndef SYNTHESIS
  initial begin : gen_backdoor
    string fname;
    if ($value$plusargs($sformatf("rill_imem%0d=%%s", CORE_ID), fname)) begin
      $readmemh(fname, mem_q);
      first_q = mem_q[0];
    end
  end
`endif

endmodule
