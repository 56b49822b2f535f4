// Output FIFO: DEPTH entries of WIDTH bits, first-word-fall-through. A push at the edge
// ending cycle t is visible on rd_valid_o / rd_data_o in cycle t+1. rd_data_o is the stored
// head entry, so it is stable while rd_valid_o & !rd_ready_i. A push while full is dropped
// and reported on overflow_o (same cycle).
module rill_fifo #(
  parameter int unsigned WIDTH = 8,
  parameter int unsigned DEPTH = 64,
  localparam int unsigned PtrW = $clog2(DEPTH),
  localparam int unsigned CntW = $clog2(DEPTH + 1)
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             wr_valid_i,
  input  logic [WIDTH-1:0] wr_data_i,
  output logic             rd_valid_o,
  input  logic             rd_ready_i,
  output logic [WIDTH-1:0] rd_data_o,
  output logic [CntW-1:0]  count_o,
  output logic             overflow_o
);

  logic [WIDTH-1:0] mem_q [DEPTH];
  logic [PtrW-1:0]  wptr_d, wptr_q, rptr_d, rptr_q;
  logic [CntW-1:0]  cnt_d, cnt_q;
  logic             push, pop, full;

  always_comb begin
    full       = (cnt_q == CntW'(DEPTH));
    push       = wr_valid_i & ~full;
    pop        = rd_ready_i & (cnt_q != '0);
    overflow_o = wr_valid_i & full;
    wptr_d     = push ? wptr_q + PtrW'(1) : wptr_q;
    rptr_d     = pop ? rptr_q + PtrW'(1) : rptr_q;
    // both neighbours of the count from the register, then a select: no adder after push/pop
    unique case ({push, pop})
      2'b10:   cnt_d = cnt_q + CntW'(1);
      2'b01:   cnt_d = cnt_q - CntW'(1);
      default: cnt_d = cnt_q;
    endcase
  end

  // storage: no reset
  always_ff @(posedge clk_i) begin
    if (push) begin
      mem_q[wptr_q] <= wr_data_i;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      wptr_q <= '0;
      rptr_q <= '0;
      cnt_q  <= '0;
    end else begin
      wptr_q <= wptr_d;
      rptr_q <= rptr_d;
      cnt_q  <= cnt_d;
    end
  end

  assign rd_valid_o = (cnt_q != '0);
  assign rd_data_o  = mem_q[rptr_q];
  assign count_o    = cnt_q;

endmodule
