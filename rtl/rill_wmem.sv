// A core's weight memory: WEIGHT_DEPTH blocks of B x B bf16. One whole block is read per cycle
// (registered: address in cycle t, block in cycle t+1); the load port writes it row by row at
// address block*B + row. Stored as B row memories so a block read is B parallel row reads.
// Block layout on rd_data_o: row r in bits [r*B*16 +: B*16], column j of a row in [j*16 +: 16].
//
// Simulation backdoor: +rill_wmem<CORE_ID>=<file> preloads by $readmemh, one row per line in
// load-port address order (block*B + row).
module rill_wmem #(
  parameter int unsigned B            = 8,
  parameter int unsigned WEIGHT_DEPTH = 256,
  parameter int unsigned CORE_ID      = 0,
  localparam int unsigned WAddrW      = rill_pkg::waddr_bits(WEIGHT_DEPTH),
  localparam int unsigned RowBits     = $clog2(B),
  localparam int unsigned LAddrW      = WAddrW + RowBits,
  localparam int unsigned RowW        = B * 16
) (
  input  logic                clk_i,
  // no state needs a reset here (memory and read-data registers); kept for the uniform port list
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic                rst_ni,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic                wr_en_i,
  input  logic [LAddrW-1:0]   wr_addr_i,
  input  logic [RowW-1:0]     wr_data_i,
  input  logic [WAddrW-1:0]   rd_addr_i,
  output logic [B*RowW-1:0]   rd_data_o
);

  logic [RowW-1:0]   mem_q [B][WEIGHT_DEPTH];
  logic [B*RowW-1:0] rd_data_d, rd_data_q;
  logic [RowBits-1:0] wr_row;
  logic [WAddrW-1:0]  wr_blk;

  assign wr_row = wr_addr_i[RowBits-1:0];
  assign wr_blk = wr_addr_i[LAddrW-1:RowBits];

  always_comb begin
    for (int unsigned r = 0; r < B; r++) begin
      rd_data_d[r*RowW +: RowW] = mem_q[r][rd_addr_i];
    end
  end

  // memory array: no reset
  always_ff @(posedge clk_i) begin
    if (wr_en_i) begin
      mem_q[wr_row][wr_blk] <= wr_data_i;
    end
  end

  // registered read data: a data register, not reset (B*B*16 bits; nothing reads it before
  // the first issue, which is at least one cycle after reset)
  always_ff @(posedge clk_i) begin
    rd_data_q <= rd_data_d;
  end

  assign rd_data_o = rd_data_q;

`ifndef SYNTHESIS
  initial begin : gen_backdoor
    string fname;
    logic [RowW-1:0] rows [WEIGHT_DEPTH*B];
    if ($value$plusargs($sformatf("rill_wmem%0d=%%s", CORE_ID), fname)) begin
      for (int unsigned a = 0; a < WEIGHT_DEPTH * B; a++) begin
        rows[a] = '0;
      end
      $readmemh(fname, rows);
      for (int unsigned a = 0; a < WEIGHT_DEPTH * B; a++) begin
        mem_q[a % B][a / B] = rows[a];
      end
    end
  end
`endif

endmodule
