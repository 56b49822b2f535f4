// Vector unit: B fp32 lanes of ADD/SUB, MUL, TANH/SIGMOID, RELU, and the OUT conversion.
// Cycle numbers count from the issue cycle 0 (R: register-file read):
//   cycle 1          op_i (VOp), dst_i, a_i, b_i
//   cycle L-1        wr_en_o, wr_idx_o, wr_data_o (WB: captured into the bank copies at the
//                    end of this cycle), L = isa.Timing (LAT_* in rill_pkg): the unit's
//                    register stages + 2; RELU is one stage (a compare/select). The compiler
//                    keeps two ops from writing back in one cycle; the simulation asserts it.
//   cycle 1 (OUT)    out_push_o, out_data_o = bf16(a_i) (rill_bf16_round), combinational: the
//                    output FIFO registers it at the end of cycle 1 (valid on the stream in
//                    cycle 2).
module rill_vector_unit
  import rill_pkg::*;
#(
  parameter int unsigned B        = 8,
  parameter int unsigned IDX_BITS = 6
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic [V_OP_BITS-1:0] op_i,
  input  logic [IDX_BITS-1:0]  dst_i,
  input  logic [B-1:0][31:0]   a_i,
  input  logic [B-1:0][31:0]   b_i,
  output logic                 wr_en_o,
  output logic [IDX_BITS-1:0]  wr_idx_o,
  output logic [B-1:0][31:0]   wr_data_o,
  output logic                 out_push_o,
  output logic [B-1:0][15:0]   out_data_o
);

  // register stages from cycle 1 to WB (latency - 2)
  localparam int unsigned D_ADD  = LAT_ADD - 2;   // ADD_STAGES
  localparam int unsigned D_MUL  = LAT_MUL - 2;   // MUL_STAGES
  localparam int unsigned D_ACT  = LAT_ACT - 2;   // ACT_STAGES
  localparam int unsigned D_RELU = LAT_RELU - 2;  // RELU_STAGES = 1

  // RELU is one compare/select and one register (relu_q, relu_tag_q below)
  if (D_RELU != 1) begin : gen_relu_depth_check
    $error("rill_vector_unit: RELU is built with one register stage");
  end

  logic is_add, is_mul, is_act, is_relu;
  logic sub, sigmoid;

  // The adders' and activation units' mode inputs are one opcode bit, not a decode of op_i
  // (a LUT level less in their first stage): their results are used only for their own ops
  // (the tags below), and bit 1 tells ADD from SUB and TANH from SIGMOID.
  localparam logic [V_OP_BITS-1:0] OpAdd = V_ADD, OpSub = V_SUB;
  localparam logic [V_OP_BITS-1:0] OpTanh = V_TANH, OpSigmoid = V_SIGMOID;
  if (OpAdd[1] || !OpSub[1] || OpTanh[1] || !OpSigmoid[1]) begin : gen_opcode_check
    $error("rill_vector_unit: bit 1 of the opcode must select SUB and SIGMOID");
  end

  always_comb begin
    is_add  = (op_i == V_ADD) || (op_i == V_SUB);
    is_mul  = op_i == V_MUL;
    is_act  = (op_i == V_TANH) || (op_i == V_SIGMOID);
    is_relu = op_i == V_RELU;
    sub     = op_i[1];  // SUB (for ADD/SUB)
    sigmoid = op_i[1];  // SIGMOID (for TANH/SIGMOID)
  end

  // ---------------------------------------------------------------- lanes
  logic [B-1:0][31:0] add_y, mul_y, act_y;
  logic [B-1:0][31:0] relu_d, relu_q;

  for (genvar i = 0; i < B; i++) begin : gen_lane
    rill_fp32_add u_add (
      .clk_i,
      .rst_ni,
      .a_i   (a_i[i]),
      .b_i   (b_i[i]),
      .sub_i (sub),
      .y_o   (add_y[i])
    );

    rill_fp32_mul u_mul (
      .clk_i,
      .rst_ni,
      .a_i (a_i[i]),
      .b_i (b_i[i]),
      .y_o (mul_y[i])
    );

    rill_act u_act (
      .clk_i,
      .rst_ni,
      .x_i       (a_i[i]),
      .sigmoid_i (sigmoid),
      .y_o       (act_y[i])
    );
  end

  // RELU: x > 0 ? x : +0 after DAZ; NaN -> canonical NaN
  always_comb begin
    for (int i = 0; i < B; i++) begin
      if (a_i[i][30:23] == 8'hFF && a_i[i][22:0] != 23'd0) begin
        relu_d[i] = NAN32;
      end else if (!a_i[i][31] && a_i[i][30:23] != 8'd0) begin
        relu_d[i] = a_i[i];
      end else begin
        relu_d[i] = 32'd0;
      end
    end
  end

  always_ff @(posedge clk_i) begin
    relu_q <= relu_d;
  end

  // ---------------------------------------------------------------- write-back tags
  typedef struct packed {
    logic                v;
    logic [IDX_BITS-1:0] dst;
  } tag_t;

  tag_t add_d [D_ADD];
  tag_t add_q [D_ADD];
  tag_t mul_d [D_MUL];
  tag_t mul_q [D_MUL];
  tag_t act_d [D_ACT];
  tag_t act_q [D_ACT];
  tag_t relu_tag_d, relu_tag_q;

  always_comb begin
    add_d[0]   = '{v: is_add, dst: dst_i};
    mul_d[0]   = '{v: is_mul, dst: dst_i};
    act_d[0]   = '{v: is_act, dst: dst_i};
    relu_tag_d = '{v: is_relu, dst: dst_i};
    for (int k = 1; k < D_ADD; k++) add_d[k] = add_q[k-1];
    for (int k = 1; k < D_MUL; k++) mul_d[k] = mul_q[k-1];
    for (int k = 1; k < D_ACT; k++) act_d[k] = act_q[k-1];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      add_q      <= '{default: '0};
      mul_q      <= '{default: '0};
      act_q      <= '{default: '0};
      relu_tag_q <= '0;
    end else begin
      add_q      <= add_d;
      mul_q      <= mul_d;
      act_q      <= act_d;
      relu_tag_q <= relu_tag_d;
    end
  end

  // ---------------------------------------------------------------- write-back mux
  tag_t add_wb, mul_wb, act_wb;

  always_comb begin
    add_wb    = add_q[D_ADD-1];
    mul_wb    = mul_q[D_MUL-1];
    act_wb    = act_q[D_ACT-1];
    wr_en_o   = add_wb.v | mul_wb.v | act_wb.v | relu_tag_q.v;
    // at most one tag is valid (asserted below): an AND-OR of the four, no priority chain,
    // since this bus runs on through the banks' bypass and the read select to a register
    wr_idx_o  = ({IDX_BITS{add_wb.v}} & add_wb.dst) | ({IDX_BITS{mul_wb.v}} & mul_wb.dst) |
                ({IDX_BITS{act_wb.v}} & act_wb.dst) | ({IDX_BITS{relu_tag_q.v}} & relu_tag_q.dst);
    wr_data_o = ({B*32{add_wb.v}} & add_y) | ({B*32{mul_wb.v}} & mul_y) |
                ({B*32{act_wb.v}} & act_y) | ({B*32{relu_tag_q.v}} & relu_q);
  end

`ifndef SYNTHESIS
  // the compiler never lets two ops land in one cycle (isa.md: one write per bank per edge)
  // (the tags are 0 in reset, so no reset qualifier is needed)
  always_ff @(posedge clk_i) begin
    assert (32'(add_wb.v) + 32'(mul_wb.v) + 32'(act_wb.v) + 32'(relu_tag_q.v) <= 32'd1)
    else $error("rill_vector_unit: two write-backs in one cycle (add %0d mul %0d act %0d relu %0d)",
                add_wb.v, mul_wb.v, act_wb.v, relu_tag_q.v);
  end
`endif

  // ---------------------------------------------------------------- OUT
  assign out_push_o = op_i == V_OUT;

  for (genvar i = 0; i < B; i++) begin : gen_out
    rill_bf16_round u_bf16 (
      .a_i (a_i[i]),
      .y_o (out_data_o[i])
    );
  end

endmodule
