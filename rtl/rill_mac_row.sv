// One output row of the matrix unit: row r's block dot product (rill_dot_row) and the
// accumulate add, nothing else. Its own module so that a hierarchical Verilator build
// (rill.cosim.verilator.HIER_BLOCKS) verilates the pair once and calls it once per row and
// clock edge, not twice; synthesis flattens it.
module rill_mac_row #(
  parameter int unsigned B = 8
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  input  logic [B-1:0][15:0] x_i,      // x rounded to bf16 (rill_dot_row's ports)
  input  logic [B-1:0][7:0]  x_e_i,
  input  logic [B-1:0]       x_rc_i,
  input  logic [B-1:0]       x_nan_i,
  input  logic               x_relu_i,  // RELU on x: negative non-NaN lanes read as zero
  input  logic [B-1:0][15:0] w_i,      // row r of the weight block
  input  logic [31:0]        acc_i,    // the accumulator, when the dot product leaves
  output logic [31:0]        y_o,      // acc_i + the dot product, ADD_STAGES later
  output logic [31:0]        y_next_o  // y_o one cycle early: the add's R2 before its register
);
  logic [31:0] dot;

  rill_dot_row #(.B(B)) u_row (
    .clk_i,
    .rst_ni,
    .x_i,
    .x_e_i,
    .x_rc_i,
    .x_nan_i,
    .x_relu_i,
    .w_i,
    .y_o (dot)
  );

  rill_fp32_add u_acc (
    .clk_i,
    .rst_ni,
    .a_i   (acc_i),
    .b_i   (dot),
    .sub_i (1'b0),
    .y_o,
    .y_next_o
  );
endmodule
