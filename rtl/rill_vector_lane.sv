// One lane of the vector unit's arithmetic: ADD/SUB, MUL, TANH/SIGMOID/PHI and the function
// unit side by side on the same operands, nothing else (the selects and the write-back are
// the vector unit's). Its own module so that a hierarchical Verilator build
// (rill.cosim.verilator.HIER_BLOCKS) verilates the four once and calls them once per lane and
// clock edge, not four times; synthesis flattens it.
module rill_vector_lane (
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic [31:0] a_i,
  input  logic [31:0] b_i,
  input  logic        sub_i,      // rill_fp32_add
  input  logic        sigmoid_i,  // rill_act
  input  logic        phi_i,
  input  logic        fn_valid_i, // rill_fn
  input  logic [1:0]  fn_sel_i,
  output logic [31:0] add_y_o,
  output logic [31:0] add_y_next_o,  // add_y_o one cycle early (the vector forward)
  output logic [31:0] mul_y_o,
  output logic [31:0] mul_y_next_o,  // mul_y_o one cycle early (the vector forward)
  output logic [31:0] act_y_o,
  output logic [31:0] act_y_next_o,
  output logic [31:0] fn_y_o
);
  rill_fp32_add u_add (
    .clk_i,
    .rst_ni,
    .a_i,
    .b_i,
    .sub_i,
    .y_o (add_y_o),
    .y_next_o (add_y_next_o)
  );

  rill_fp32_mul u_mul (
    .clk_i,
    .rst_ni,
    .a_i,
    .b_i,
    .y_o (mul_y_o),
    .y_next_o (mul_y_next_o)
  );

  rill_act u_act (
    .clk_i,
    .rst_ni,
    .x_i       (a_i),
    .sigmoid_i,
    .phi_i,
    .y_o       (act_y_o),
    .y_next_o  (act_y_next_o)
  );

  // +0 in a cycle no result leaves (its valid bits are reset)
  rill_fn u_fn (
    .clk_i,
    .rst_ni,
    .valid_i (fn_valid_i),
    .sel_i   (fn_sel_i),
    .x_i     (a_i),
    .y_o     (fn_y_o)
  );
endmodule
