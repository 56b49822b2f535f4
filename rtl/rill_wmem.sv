// A core's weight memory: WEIGHT_DEPTH blocks of B x B bf16. One whole block is read per cycle
// through the block RAM's read register and its output register (address in cycle t, block in
// cycle t+2: the matrix unit's first stage starts from a register, not from a block RAM's
// clock-to-out; rill_core addresses it a cycle ahead, with the next bundle's block); the load
// port writes it row by row at address block*B + row. Stored as B row memories (gen_row), each
// a plain 1-write 1-read memory of WEIGHT_DEPTH rows, so that each maps onto block RAM on its
// own; a block read is the B row reads in parallel. A read at the address being written
// returns the old row (no write-through; the load port and reads do not overlap).
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

  logic [RowBits-1:0] wr_row;
  logic [WAddrW-1:0]  wr_blk;

  assign wr_row = wr_addr_i[RowBits-1:0];
  assign wr_blk = wr_addr_i[LAddrW-1:RowBits];

`ifndef SYNTHESIS
  // backdoor: the file is read once (by the first row memory to ask) into bd_rows
  logic [RowW-1:0] bd_rows [WEIGHT_DEPTH*B];
  bit              bd_read = 1'b0;
  bit              bd_have = 1'b0;

  task automatic bd_load(output bit have);
    string fname;
    if (!bd_read) begin
      bd_read = 1'b1;
      if ($value$plusargs($sformatf("rill_wmem%0d=%%s", CORE_ID), fname)) begin
        for (int unsigned a = 0; a < WEIGHT_DEPTH * B; a++) begin
          bd_rows[a] = '0;
        end
        $readmemh(fname, bd_rows);
        bd_have = 1'b1;
      end
    end
    have = bd_have;
  endtask
`endif

  for (genvar r = 0; r < B; r++) begin : gen_row
    logic [RowW-1:0] mem_q [WEIGHT_DEPTH];
    logic            we;
    logic [RowW-1:0] rd_d, rd_q, out_q;

    assign we   = wr_en_i && (wr_row == RowBits'(r));
    assign rd_d = mem_q[rd_addr_i];

    // memory array: no reset
    always_ff @(posedge clk_i) begin
      if (we) begin
        mem_q[wr_blk] <= wr_data_i;
      end
    end

    // read register and output register: data registers, not reset (nothing reads them
    // before the first issue, which is at least two cycles after reset)
    always_ff @(posedge clk_i) begin
      rd_q  <= rd_d;
      out_q <= rd_q;
    end

    assign rd_data_o[r*RowW +: RowW] = out_q;

`ifndef SYNTHESIS
    initial begin : gen_backdoor
      bit have;
      bd_load(have);
      if (have) begin
        for (int unsigned a = 0; a < WEIGHT_DEPTH; a++) begin
          mem_q[a] = bd_rows[a*B + r];
        end
      end
    end
`endif
  end

endmodule
