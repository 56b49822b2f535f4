// Vector unit: B fp32 lanes of ADD/SUB, MUL, TANH/SIGMOID, the compare/select ops (RELU, MAX,
// MIN, ABS, NEG) and the OUT conversion.
// Cycle numbers count from the issue cycle 0 (R: register-file read):
//   cycle 1          op_i (VOp), dst_i, a_i, b_i
//   cycle L-1        wr_en_o, wr_idx_o, wr_data_o (WB: captured into the bank copies at the
//                    end of this cycle), L = isa.Timing (LAT_* in rill_pkg): the unit's
//                    register stages + 2; RELU/ABS/NEG are one stage (LAT_RELU), MAX/MIN
//                    two (LAT_MINMAX: compare, pick), sharing one result register and
//                    write-back tag. The compiler
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
  localparam int unsigned D_MM   = LAT_MINMAX - 2;  // MINMAX_STAGES = 2

  // RELU/ABS/NEG are one stage, MAX/MIN two (mm_*_q, then the pick); all five end in one
  // register (sel_q, sel_tag_q below)
  if (D_RELU != 1 || D_MM != 2) begin : gen_relu_depth_check
    $error("rill_vector_unit: RELU/ABS/NEG are built with one register stage, MAX/MIN two");
  end

  logic is_add, is_mul, is_act, is_sel, is_mm;
  logic sub, sigmoid;
  logic sel_min, sel_neg;

  // The adders' and activation units' mode inputs are one opcode bit, not a decode of op_i
  // (a LUT level less in their first stage): their results are used only for their own ops
  // (the tags below), and bit 1 tells ADD from SUB and TANH from SIGMOID.
  localparam logic [V_OP_BITS-1:0] OpAdd = V_ADD, OpSub = V_SUB;
  localparam logic [V_OP_BITS-1:0] OpTanh = V_TANH, OpSigmoid = V_SIGMOID;
  if (OpAdd[1] || !OpSub[1] || OpTanh[1] || !OpSigmoid[1]) begin : gen_opcode_check
    $error("rill_vector_unit: bit 1 of the opcode must select SUB and SIGMOID");
  end

  // Likewise the compare/select path's modes, among its own five ops: bit 3 clear is RELU;
  // else bit 1 tells ABS/NEG (unary) from MAX/MIN, and bit 0 MIN from MAX and NEG from ABS.
  localparam logic [V_OP_BITS-1:0] OpRelu = V_RELU, OpMax = V_MAX, OpMin = V_MIN;
  localparam logic [V_OP_BITS-1:0] OpAbs = V_ABS, OpNeg = V_NEG;
  if (V_OP_BITS != 4 || OpRelu[3] || !OpMax[3] || !OpMin[3] || !OpAbs[3] || !OpNeg[3] ||
      OpMax[1] || OpMin[1] || !OpAbs[1] || !OpNeg[1] ||
      OpMax[0] || !OpMin[0] || OpAbs[0] || !OpNeg[0]) begin : gen_sel_opcode_check
    $error("rill_vector_unit: opcode bits 3, 1, 0 must tell RELU, MAX, MIN, ABS, NEG apart");
  end

  always_comb begin
    is_add    = (op_i == V_ADD) || (op_i == V_SUB);
    is_mul    = op_i == V_MUL;
    is_act    = (op_i == V_TANH) || (op_i == V_SIGMOID);
    is_sel    = (op_i == V_RELU) || (op_i == V_ABS) || (op_i == V_NEG);
    is_mm     = (op_i == V_MAX) || (op_i == V_MIN);
    sub       = op_i[1];  // SUB (for ADD/SUB)
    sigmoid   = op_i[1];  // SIGMOID (for TANH/SIGMOID)
    sel_min   = op_i[0];  // MIN (for MAX/MIN)
    sel_neg   = op_i[0];  // NEG (for ABS/NEG)
  end

  typedef struct packed {
    logic                v;
    logic [IDX_BITS-1:0] dst;
  } tag_t;

  tag_t mm_tag_q;  // a MAX/MIN in its second stage

  // ---------------------------------------------------------------- lanes
  logic [B-1:0][31:0] add_y, mul_y, act_y;
  logic [B-1:0][31:0] sel_d, sel_q, mm_y0_d, mm_y1_d, mm_y0_q, mm_y1_q;
  logic [B-1:0]       mm_lt_d, mm_lt_q;

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

  // Compare/select path (docs/numerics.md): RELU/ABS/NEG one stage, MAX/MIN two. DAZ: a
  // subnormal operand reads as the zero of its sign; every NaN result is NAN32.
  //   RELU  a > 0 ? a : +0            ABS  {0, |a|}           NEG  {~sign, |a|}
  //   MAX / MIN  IEEE 754-2019 maximum / minimum: NaN if a or b is NaN, -0 < +0.
  // MAX/MIN compare the magnitudes (bits 30:0, straight into one carry chain) and read the
  // value order from the signs beside it: different signs, the negative one is smaller (-0 <
  // +0 included); both negative, the larger magnitude is. Equal magnitudes of one sign are
  // equal bits, so either pick is right. Subnormals compare as tiny values of their sign:
  // equal after DAZ to the zero of that sign, and whichever of two such is picked flushes to
  // the same zero. Stage 1 registers the compare with both outcomes of the pick (y0, y1: NaN,
  // flush and signs done beside the chain); stage 2 selects one into sel_q. (In one stage
  // this measured 6.5 levels: yosys shares the compare with the fp32 adder's compare of the
  // same operands and leaves logic in front of the chain.)
  always_comb begin
    for (int i = 0; i < B; i++) begin
      logic        a_nan, b_nan, a_z, b_z, ok, pick_neg, mag_lt, take_b0, take_b1;
      logic [31:0] a_f, b_f, u, x, y0, y1;
      a_nan = (&a_i[i][30:23]) && (|a_i[i][22:0]);
      b_nan = (&b_i[i][30:23]) && (|b_i[i][22:0]);
      a_z   = a_i[i][30:23] == 8'd0;
      b_z   = b_i[i][30:23] == 8'd0;
      a_f   = a_z ? {a_i[i][31], 31'd0} : a_i[i];  // DAZ
      b_f   = b_z ? {b_i[i][31], 31'd0} : b_i[i];
      // the unary results (RELU, ABS, NEG), NaN included
      if (a_nan) begin
        u = NAN32;
      end else if (op_i[3]) begin
        u = {sel_neg ? ~a_f[31] : 1'b0, a_f[30:0]};
      end else begin
        u = (a_f[31] || a_z) ? 32'd0 : a_f;
      end
      // a's side of the pick: a NaN of MAX/MIN, or a
      x        = (a_nan || b_nan) ? NAN32 : a_f;
      ok       = !(a_nan || b_nan);  // MAX/MIN of two numbers: b may be picked
      pick_neg = a_i[i][31] != sel_min;  // (a < b) != MIN, if a < b exactly when a < 0
      // take b when (a < b) != MIN. a < b: the signs differ and a is negative, or one sign and
      // the magnitudes (reversed when negative) say so
      take_b0  = ok && pick_neg;  // |a| >= |b|
      take_b1  = ok && ((a_i[i][31] != b_i[i][31]) ? pick_neg : !pick_neg);  // |a| < |b|
      y0       = take_b0 ? b_f : x;
      y1       = take_b1 ? b_f : x;
      mag_lt     = a_i[i][30:0] < b_i[i][30:0];
      mm_y0_d[i] = y0;
      mm_y1_d[i] = y1;
      mm_lt_d[i] = mag_lt;
      // stage 2 of a MAX/MIN issued a cycle earlier, else a RELU/ABS/NEG (never both: they
      // would write back in one cycle)
      sel_d[i]   = mm_tag_q.v ? (mm_lt_q[i] ? mm_y1_q[i] : mm_y0_q[i]) : u;
    end
  end

  always_ff @(posedge clk_i) begin
    sel_q   <= sel_d;
    mm_y0_q <= mm_y0_d;
    mm_y1_q <= mm_y1_d;
    mm_lt_q <= mm_lt_d;
  end

  // ---------------------------------------------------------------- write-back tags

  tag_t add_d [D_ADD];
  tag_t add_q [D_ADD];
  tag_t mul_d [D_MUL];
  tag_t mul_q [D_MUL];
  tag_t act_d [D_ACT];
  tag_t act_q [D_ACT];
  tag_t sel_tag_d, sel_tag_q;

  always_comb begin
    add_d[0]   = '{v: is_add, dst: dst_i};
    mul_d[0]   = '{v: is_mul, dst: dst_i};
    act_d[0]   = '{v: is_act, dst: dst_i};
    sel_tag_d  = mm_tag_q.v ? mm_tag_q : '{v: is_sel, dst: dst_i};
    for (int k = 1; k < D_ADD; k++) add_d[k] = add_q[k-1];
    for (int k = 1; k < D_MUL; k++) mul_d[k] = mul_q[k-1];
    for (int k = 1; k < D_ACT; k++) act_d[k] = act_q[k-1];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      add_q      <= '{default: '0};
      mul_q      <= '{default: '0};
      act_q      <= '{default: '0};
      sel_tag_q <= '0;
      mm_tag_q  <= '0;
    end else begin
      add_q      <= add_d;
      mul_q      <= mul_d;
      act_q      <= act_d;
      sel_tag_q <= sel_tag_d;
      mm_tag_q  <= '{v: is_mm, dst: dst_i};
    end
  end

  // ---------------------------------------------------------------- write-back mux
  tag_t add_wb, mul_wb, act_wb;

  always_comb begin
    add_wb    = add_q[D_ADD-1];
    mul_wb    = mul_q[D_MUL-1];
    act_wb    = act_q[D_ACT-1];
    wr_en_o   = add_wb.v | mul_wb.v | act_wb.v | sel_tag_q.v;
    // at most one tag is valid (asserted below): an AND-OR of the four, no priority chain,
    // since this bus runs on through the banks' bypass and the read select to a register
    wr_idx_o  = ({IDX_BITS{add_wb.v}} & add_wb.dst) | ({IDX_BITS{mul_wb.v}} & mul_wb.dst) |
                ({IDX_BITS{act_wb.v}} & act_wb.dst) | ({IDX_BITS{sel_tag_q.v}} & sel_tag_q.dst);
    wr_data_o = ({B*32{add_wb.v}} & add_y) | ({B*32{mul_wb.v}} & mul_y) |
                ({B*32{act_wb.v}} & act_y) | ({B*32{sel_tag_q.v}} & sel_q);
  end

`ifndef SYNTHESIS
  // the compiler never lets two ops land in one cycle (isa.md: one write per bank per edge)
  // (the tags are 0 in reset, so no reset qualifier is needed)
  always_ff @(posedge clk_i) begin
    assert (32'(add_wb.v) + 32'(mul_wb.v) + 32'(act_wb.v) + 32'(sel_tag_q.v) <= 32'd1 &&
            !(mm_tag_q.v && is_sel))
    else $error("rill_vector_unit: two write-backs in one cycle (add %0d mul %0d act %0d sel %0d)",
                add_wb.v, mul_wb.v, act_wb.v, sel_tag_q.v);
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
