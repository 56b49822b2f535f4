// A core's instruction memory: INSTR_DEPTH bundles, registered read (address in cycle t,
// bundle in cycle t+1), written one bundle per cycle by the load port. A plain 1-write 1-read
// memory with the block RAM's own read register: the read data is not reset (an asynchronous
// reset there costs a LUT per bit after the block RAM); the core reads the bundle only when
// it issues, which is never in the first cycle after reset.
//
// Simulation backdoor: +rill_imem<CORE_ID>=<file> preloads by $readmemh (one bundle per line,
// the little-endian bundle integer in hex).
module rill_imem #(
  parameter int unsigned WIDTH       = 64,
  parameter int unsigned INSTR_DEPTH = 1024,
  parameter int unsigned CORE_ID     = 0,
  localparam int unsigned AddrW      = $clog2(INSTR_DEPTH)
) (
  input  logic             clk_i,
  // no state needs a reset here (memory and read-data register); kept for the uniform port list
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic             rst_ni,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic             wr_en_i,
  input  logic [AddrW-1:0] wr_addr_i,
  input  logic [WIDTH-1:0] wr_data_i,
  input  logic [AddrW-1:0] rd_addr_i,
  output logic [WIDTH-1:0] rd_data_o
);

  logic [WIDTH-1:0] mem_q [INSTR_DEPTH];
  logic [WIDTH-1:0] rd_data_d, rd_data_q;

  assign rd_data_d = mem_q[rd_addr_i];

  // memory array: no reset
  always_ff @(posedge clk_i) begin
    if (wr_en_i) begin
      mem_q[wr_addr_i] <= wr_data_i;
    end
  end

  // registered read data: a data register, not reset
  always_ff @(posedge clk_i) begin
    rd_data_q <= rd_data_d;
  end

  assign rd_data_o = rd_data_q;

`ifndef SYNTHESIS
  initial begin : gen_backdoor
    string fname;
    if ($value$plusargs($sformatf("rill_imem%0d=%%s", CORE_ID), fname)) begin
      $readmemh(fname, mem_q);
    end
  end
`endif

endmodule
