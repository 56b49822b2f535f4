// Delay line: out_o is in_i delayed by DEPTH clock cycles (DEPTH = 0: a wire). Datapath
// registers only: no reset (what they carry is qualified by a valid bit delayed alongside).
module rill_delay #(
  parameter int unsigned WIDTH = 1,
  parameter int unsigned DEPTH = 1
) (
  input  logic             clk_i,
  input  logic [WIDTH-1:0] in_i,
  output logic [WIDTH-1:0] out_o
);

  if (DEPTH == 0) begin : gen_wire
    assign out_o = in_i;
  end else begin : gen_regs
    logic [WIDTH-1:0] q [DEPTH];
    always_ff @(posedge clk_i) begin
      q[0] <= in_i;
      for (int k = 1; k < DEPTH; k++) q[k] <= q[k-1];
    end
    assign out_o = q[DEPTH-1];
  end

endmodule
