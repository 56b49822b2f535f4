// Vector unit: B fp32 lanes of ADD/SUB, MUL, TANH/SIGMOID/PHI (rill_act), RECIP/RSQRT/EXP2/
// LOG2 (rill_fn), the compare/select ops (RELU, ABS, NEG, KEEP, DROP, OR; MAX, MIN, GT, GE),
// RMAX across the lanes, and the OUT conversion.
// Cycle numbers count from the issue cycle 0 (R: register-file read):
//   cycle 1          op_i (VOp), dst_i, a_i, b_i
//   cycle L-1        wr_en_o, wr_idx_o, wr_data_o (WB: captured into the bank copies at the
//                    end of this cycle), L = isa.Timing (LAT_* in rill_pkg): the unit's
//                    register stages + 2; RELU/ABS/NEG/KEEP/DROP/OR are one stage (LAT_RELU),
//                    MAX/MIN/GT/GE two (LAT_MINMAX: compare, pick), sharing one result
//                    register and write-back tag; RECIP/RSQRT/EXP2 LAT_FN, LOG2 LAT_FN_LOG;
//                    RMAX rmax_stages(B) + 2 (a tree of log2(B) compare and pick stages, the
//                    result in every lane). The compiler keeps two ops from writing back in
//                    one cycle; the simulation asserts it.
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
  output logic [B-1:0][15:0]   out_data_o,
  // the vector forward (isa.Timing.vector_forward, rill_core): an ADD/SUB, MUL or
  // TANH/SIGMOID/PHI two cycles before its write-back cycle (registers), and its result one
  // cycle before it (the adders' or multipliers' R2 logic, the activations' N logic)
  output logic                 fwd_en_o,
  output logic [IDX_BITS-1:0]  fwd_idx_o,
  output logic [B-1:0][31:0]   fwd_data_o
);

  // register stages from cycle 1 to WB (latency - 2)
  localparam int unsigned D_ADD    = LAT_ADD - 2;     // ADD_STAGES
  localparam int unsigned D_MUL    = LAT_MUL - 2;     // MUL_STAGES
  localparam int unsigned D_ACT    = LAT_ACT - 2;     // ACT_STAGES
  localparam int unsigned D_RELU   = LAT_RELU - 2;    // RELU_STAGES = 1
  localparam int unsigned D_MM     = LAT_MINMAX - 2;  // MINMAX_STAGES = 2
  localparam int unsigned D_FN     = LAT_FN - 2;      // FN_STAGES
  localparam int unsigned D_FN_LOG = LAT_FN_LOG - 2;  // FN_LOG_STAGES
  localparam int unsigned LV       = $clog2(B);       // RMAX tree levels
  localparam int unsigned D_RMAX   = rmax_stages(B);  // 2 * LV

  // RELU/ABS/NEG/KEEP/DROP/OR are one stage, MAX/MIN/GT/GE two (mm_*_q, then the pick); all
  // end in one register (sel_q, sel_tag_q below)
  if (D_RELU != 1 || D_MM != 2) begin : gen_relu_depth_check
    $error("rill_vector_unit: RELU/ABS/NEG are built with one register stage, MAX/MIN two");
  end
  if (D_FN != FN_STAGES || D_FN_LOG != FN_LOG_STAGES || D_RMAX != 2 * LV ||
      B != (1 << LV) || B < 2) begin : gen_depth_check
    $error("rill_vector_unit: the function unit's and the RMAX tree's depths disagree");
  end

  logic is_add, is_mul, is_act, is_sel, is_mm, is_fn, is_rmax;
  logic sub, sigmoid, phi;
  logic sel_min, sel_neg, sel_relu, sel_kd, sel_drop, sel_or, mm_cmp, mm_ge;

  // The adders' and activation units' mode inputs are opcode bits, not a decode of op_i
  // (a LUT level less in their first stage): their results are used only for their own ops
  // (the tags below): bit 1 tells ADD from SUB and TANH from SIGMOID, bit 3 PHI from both.
  localparam logic [V_OP_BITS-1:0] OpAdd = V_ADD, OpSub = V_SUB;
  localparam logic [V_OP_BITS-1:0] OpTanh = V_TANH, OpSigmoid = V_SIGMOID, OpPhi = V_PHI;
  if (OpAdd[1] || !OpSub[1] || OpTanh[1] || !OpSigmoid[1] || OpPhi[1] ||
      OpTanh[3] || OpSigmoid[3] || !OpPhi[3]) begin : gen_opcode_check
    $error("rill_vector_unit: bit 1 of the opcode must select SUB and SIGMOID, bit 3 PHI");
  end

  // The function unit's select is the opcode's low two bits (isa.py: v_op[1:0] = FN_*).
  localparam logic [V_OP_BITS-1:0] OpRecip = V_RECIP, OpRsqrt = V_RSQRT, OpExp2 = V_EXP2;
  localparam logic [V_OP_BITS-1:0] OpLog2 = V_LOG2;
  if (OpRecip[1:0] != FN_RECIP || OpRsqrt[1:0] != FN_RSQRT || OpExp2[1:0] != FN_EXP2 ||
      OpLog2[1:0] != FN_LOG2) begin : gen_fn_opcode_check
    $error("rill_vector_unit: the function ops' low opcode bits must be the FN_* selects");
  end

  // Likewise bit 0 tells MIN from MAX, NEG from ABS, GE from GT and DROP from KEEP.
  localparam logic [V_OP_BITS-1:0] OpMax = V_MAX, OpMin = V_MIN, OpAbs = V_ABS, OpNeg = V_NEG;
  localparam logic [V_OP_BITS-1:0] OpGt = V_GT, OpGe = V_GE, OpKeep = V_KEEP, OpDrop = V_DROP;
  if (OpMax[0] || !OpMin[0] || OpAbs[0] || !OpNeg[0] || OpGt[0] || !OpGe[0] || OpKeep[0] ||
      !OpDrop[0]) begin : gen_sel_opcode_check
    $error("rill_vector_unit: opcode bit 0 must tell MIN, NEG, GE, DROP from their pairs");
  end

  always_comb begin
    is_add    = (op_i == V_ADD) || (op_i == V_SUB);
    is_mul    = op_i == V_MUL;
    is_act    = (op_i == V_TANH) || (op_i == V_SIGMOID) || (op_i == V_PHI);
    is_sel    = (op_i == V_RELU) || (op_i == V_ABS) || (op_i == V_NEG) || (op_i == V_KEEP) ||
                (op_i == V_DROP) || (op_i == V_OR);
    is_mm     = (op_i == V_MAX) || (op_i == V_MIN) || (op_i == V_GT) || (op_i == V_GE);
    is_fn     = (op_i == V_RECIP) || (op_i == V_RSQRT) || (op_i == V_EXP2) || (op_i == V_LOG2);
    is_rmax   = op_i == V_RMAX;
    sub       = op_i[1];  // SUB (for ADD/SUB)
    sigmoid   = op_i[1];  // SIGMOID (for TANH/SIGMOID/PHI)
    phi       = op_i[3];  // PHI
    sel_min   = op_i[0];  // MIN (for MAX/MIN)
    sel_neg   = op_i[0];  // NEG (for ABS/NEG)
    sel_drop  = op_i[0];  // DROP (for KEEP/DROP)
    mm_ge     = op_i[0];  // GE (for GT/GE)
    sel_relu  = op_i == V_RELU;
    sel_kd    = (op_i == V_KEEP) || (op_i == V_DROP);
    sel_or    = op_i == V_OR;
    mm_cmp    = (op_i == V_GT) || (op_i == V_GE);
  end

  typedef struct packed {
    logic                v;
    logic [IDX_BITS-1:0] dst;
  } tag_t;

  tag_t mm_tag_q;  // a MAX/MIN/GT/GE in its second stage

  // ---------------------------------------------------------------- lanes
  logic [B-1:0][31:0] add_y, add_y_next, mul_y, mul_y_next, act_y, act_y_next, fn_y;
  logic [B-1:0][31:0] sel_d, sel_q, mm_y0_d, mm_y1_d, mm_y0_q, mm_y1_q;
  logic [B-1:0]       mm_lt_d, mm_lt_q, mm_use0_d, mm_use0_q, mm_teq_d, mm_teq_q;

  for (genvar i = 0; i < B; i++) begin : gen_lane
    // fn_y is +0 in a cycle no function result leaves, so no tag gates it below
    rill_vector_lane u_lane (
      .clk_i,
      .rst_ni,
      .a_i        (a_i[i]),
      .b_i        (b_i[i]),
      .sub_i      (sub),
      .sigmoid_i  (sigmoid),
      .phi_i      (phi),
      .fn_valid_i (is_fn),
      .fn_sel_i   (op_i[1:0]),
      .add_y_o    (add_y[i]),
      .add_y_next_o(add_y_next[i]),
      .mul_y_o    (mul_y[i]),
      .mul_y_next_o(mul_y_next[i]),
      .act_y_o    (act_y[i]),
      .act_y_next_o(act_y_next[i]),
      .fn_y_o     (fn_y[i])
    );
  end

  // The first stage of MAX/MIN (and of each RMAX level): the magnitudes (bits 30:0, straight
  // into one carry chain) compared, and the two outcomes of the pick beside it: y0 if |a| >=
  // |b|, y1 if |a| < |b|. The value order comes from the signs: different signs, the negative
  // one is smaller (-0 < +0 included); both negative, the larger magnitude is. Equal
  // magnitudes of one sign are equal bits, so either pick is right. Subnormals compare as tiny
  // values of their sign: equal after DAZ to the zero of that sign, and whichever of two such
  // is picked flushes to the same zero. NaN on either side: NAN32.
  typedef struct packed {
    logic        lt;  // |a| < |b|
    logic [31:0] y0;
    logic [31:0] y1;
  } mm_t;

  function automatic mm_t mm_prep(logic [31:0] a, logic [31:0] b, logic want_min);
    mm_t         m;
    logic        a_nan, b_nan, ok, pick_neg;
    logic [31:0] a_f, b_f, x;
    a_nan    = (&a[30:23]) && (|a[22:0]);
    b_nan    = (&b[30:23]) && (|b[22:0]);
    a_f      = (a[30:23] == 8'd0) ? {a[31], 31'd0} : a;  // DAZ
    b_f      = (b[30:23] == 8'd0) ? {b[31], 31'd0} : b;
    x        = (a_nan || b_nan) ? NAN32 : a_f;  // a's side of the pick
    ok       = !(a_nan || b_nan);  // two numbers: b may be picked
    pick_neg = a[31] != want_min;  // (a < b) != MIN, if a < b exactly when a < 0
    // take b when (a < b) != MIN. a < b: the signs differ and a is negative, or one sign and
    // the magnitudes (reversed when negative) say so
    m.y0     = (ok && pick_neg) ? b_f : x;  // |a| >= |b|
    m.y1     = (ok && ((a[31] != b[31]) ? pick_neg : !pick_neg)) ? b_f : x;  // |a| < |b|
    m.lt     = a[30:0] < b[30:0];
    return m;
  endfunction

  // Compare/select path (docs/numerics.md): RELU/ABS/NEG/KEEP/DROP/OR one stage,
  // MAX/MIN/GT/GE two. DAZ: a subnormal operand reads as the zero of its sign; every NaN
  // result is NAN32.
  //   RELU  a > 0 ? a : +0            ABS  {0, |a|}           NEG  {~sign, |a|}
  //   KEEP  a != 0 ? b : +0           DROP a != 0 ? +0 : b    (a's exponent field nonzero:
  //                                                           a NaN or inf mask is true)
  //   OR    a | b (NaN -> NAN32)
  //   MAX / MIN  IEEE 754-2019 maximum / minimum: NaN if a or b is NaN, -0 < +0 (mm_prep).
  //   GT / GE    1.0 or +0: a > b, a >= b after DAZ, -0 == +0, NaN false. A second carry
  //              chain gives |b| < |a|; stage 1 registers the answer for |a| < |b| (in y1),
  //              for |a| > |b| (in y0) and for equal magnitudes (teq), stage 2 picks.
  // (MAX/MIN in one stage measured 6.5 levels: yosys shares the compare with the fp32 adder's
  // compare of the same operands and leaves logic in front of the chain.)
  localparam logic [31:0] ONE32 = 32'h3F800000;

  always_comb begin
    for (int i = 0; i < B; i++) begin
      logic        a_nan, b_nan, a_z, b_z, o_nan, gt_mag, t_lt, t_gt, t_eq, mag0;
      logic [31:0] a_f, b_f, b_c, u;
      mm_t         m;
      a_nan = (&a_i[i][30:23]) && (|a_i[i][22:0]);
      b_nan = (&b_i[i][30:23]) && (|b_i[i][22:0]);
      a_z   = a_i[i][30:23] == 8'd0;
      b_z   = b_i[i][30:23] == 8'd0;
      a_f   = a_z ? {a_i[i][31], 31'd0} : a_i[i];  // DAZ
      b_f   = b_z ? {b_i[i][31], 31'd0} : b_i[i];
      b_c   = b_nan ? NAN32 : b_f;                 // b canonical
      // a | b (DAZ) is a NaN: the exponents OR to all ones (a flushed operand's exponent is
      // zero already) and a fraction bit of an operand that is not flushed is set (a NaN
      // operand makes the OR a NaN too, so every NaN operand lands here)
      o_nan = (&(a_i[i][30:23] | b_i[i][30:23])) &&
              ((!a_z && (|a_i[i][22:0])) || (!b_z && (|b_i[i][22:0])));
      // the one-stage results, NaN included
      if (sel_kd) begin
        u = (a_z == sel_drop) ? b_c : 32'd0;  // the mask a is true iff its exponent is nonzero
      end else if (sel_or) begin
        u = o_nan ? NAN32 : (a_f | b_f);
      end else if (a_nan) begin
        u = NAN32;
      end else if (!sel_relu) begin
        u = {sel_neg ? ~a_f[31] : 1'b0, a_f[30:0]};
      end else begin
        u = (a_f[31] || a_z) ? 32'd0 : a_f;
      end
      // MAX/MIN, GT/GE: stage 1
      m      = mm_prep(a_i[i], b_i[i], sel_min);
      gt_mag = b_i[i][30:0] < a_i[i][30:0];
      // GT/GE by the magnitude order: t_lt (|a| < |b|), t_gt (|a| > |b|), t_eq (equal)
      mag0   = a_z && b_z;  // both zero after DAZ: equal
      if (a_nan || b_nan) begin
        t_lt = 1'b0;
        t_gt = 1'b0;
        t_eq = 1'b0;
      end else if (mag0) begin
        t_lt = mm_ge;
        t_gt = mm_ge;
        t_eq = mm_ge;
      end else if (a_i[i][31] != b_i[i][31]) begin
        t_lt = !a_i[i][31];  // a positive, b negative: a > b
        t_gt = !a_i[i][31];
        t_eq = !a_i[i][31];
      end else begin
        // one sign: a > b when |a| > |b| (positive) or |a| < |b| (negative)
        t_lt = a_i[i][31];
        t_gt = !a_i[i][31];
        t_eq = mm_ge;
      end
      mm_y0_d[i]   = mm_cmp ? (t_gt ? ONE32 : 32'd0) : m.y0;
      mm_y1_d[i]   = mm_cmp ? (t_lt ? ONE32 : 32'd0) : m.y1;
      mm_lt_d[i]   = m.lt;
      mm_use0_d[i] = gt_mag || !mm_cmp;  // MAX/MIN take y0 for equal magnitudes too
      mm_teq_d[i]  = t_eq;
      // stage 2 of a MAX/MIN/GT/GE issued a cycle earlier, else a one-stage op (never both:
      // they would write back in one cycle)
      sel_d[i]     = mm_tag_q.v ? (mm_lt_q[i] ? mm_y1_q[i] :
                                   mm_use0_q[i] ? mm_y0_q[i] : (mm_teq_q[i] ? ONE32 : 32'd0))
                                : u;
    end
  end

  always_ff @(posedge clk_i) begin
    sel_q     <= sel_d;
    mm_y0_q   <= mm_y0_d;
    mm_y1_q   <= mm_y1_d;
    mm_lt_q   <= mm_lt_d;
    mm_use0_q <= mm_use0_d;
    mm_teq_q  <= mm_teq_d;
  end

  // ---------------------------------------------------------------- RMAX
  // A tree over the lanes of a_i: level l has B >> (l + 1) pairs, each a compare stage (mm_prep,
  // as MAX) and a pick stage. The maximum (NaN if any lane is NaN, -0 < +0, DAZ) leaves the
  // last pick register in cycle 1 + 2 log2(B) and is written to every lane.
  for (genvar l = 0; l < LV; l++) begin : gen_rmax
    localparam int unsigned N = B >> (l + 1);
    logic [2*N-1:0][31:0] in;
    logic [N-1:0]         lt_q;
    logic [N-1:0][31:0]   y0_q, y1_q, p_q;

    if (l == 0) begin : gen_in_a
      assign in = a_i;
    end else begin : gen_in_prev
      assign in = gen_rmax[l-1].p_q;
    end

    always_ff @(posedge clk_i) begin
      for (int j = 0; j < N; j++) begin
        mm_t m;
        m       = mm_prep(in[2*j], in[2*j+1], 1'b0);
        lt_q[j] <= m.lt;
        y0_q[j] <= m.y0;
        y1_q[j] <= m.y1;
        p_q[j]  <= lt_q[j] ? y1_q[j] : y0_q[j];
      end
    end
  end

  logic [31:0] rmax_y;
  assign rmax_y = gen_rmax[LV-1].p_q[0];

  // ---------------------------------------------------------------- write-back tags

  tag_t add_d [D_ADD];
  tag_t add_q [D_ADD];
  tag_t mul_d [D_MUL];
  tag_t mul_q [D_MUL];
  tag_t act_d [D_ACT];
  tag_t act_q [D_ACT];
  tag_t fn_d [D_FN];
  tag_t fn_q [D_FN];
  tag_t fnl_d [D_FN_LOG];
  tag_t fnl_q [D_FN_LOG];
  tag_t rmax_d [D_RMAX];
  tag_t rmax_q [D_RMAX];
  tag_t sel_tag_d, sel_tag_q;

  always_comb begin
    add_d[0]   = '{v: is_add, dst: dst_i};
    mul_d[0]   = '{v: is_mul, dst: dst_i};
    act_d[0]   = '{v: is_act, dst: dst_i};
    fn_d[0]    = '{v: is_fn && op_i != V_LOG2, dst: dst_i};
    fnl_d[0]   = '{v: op_i == V_LOG2, dst: dst_i};
    rmax_d[0]  = '{v: is_rmax, dst: dst_i};
    sel_tag_d  = mm_tag_q.v ? mm_tag_q : '{v: is_sel, dst: dst_i};
    for (int k = 1; k < D_ADD; k++) add_d[k] = add_q[k-1];
    for (int k = 1; k < D_MUL; k++) mul_d[k] = mul_q[k-1];
    for (int k = 1; k < D_ACT; k++) act_d[k] = act_q[k-1];
    for (int k = 1; k < D_FN; k++) fn_d[k] = fn_q[k-1];
    for (int k = 1; k < D_FN_LOG; k++) fnl_d[k] = fnl_q[k-1];
    for (int k = 1; k < D_RMAX; k++) rmax_d[k] = rmax_q[k-1];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      add_q     <= '{default: '0};
      mul_q     <= '{default: '0};
      act_q     <= '{default: '0};
      fn_q      <= '{default: '0};
      fnl_q     <= '{default: '0};
      rmax_q    <= '{default: '0};
      sel_tag_q <= '0;
      mm_tag_q  <= '0;
    end else begin
      add_q     <= add_d;
      mul_q     <= mul_d;
      act_q     <= act_d;
      fn_q      <= fn_d;
      fnl_q     <= fnl_d;
      rmax_q    <= rmax_d;
      sel_tag_q <= sel_tag_d;
      mm_tag_q  <= '{v: is_mm, dst: dst_i};
    end
  end

  // ---------------------------------------------------------------- the vector forward
  // One channel for the three sources: an ADD/SUB, a MUL and an activation two cycles before
  // their write-back cycles are never there together (they would write back in one cycle),
  // so the channel's tag is one register, picked a stage early from the three tag pipelines,
  // and its data is the last-stage value of whichever is in its last stage, picked by that
  // stage's ADD and MUL tags (registers).
  if (D_ADD < 4 || D_MUL < 3 || D_ACT < 3) begin : gen_fwd_depth_check
    $error("rill_vector_unit: the vector forward taps the tags two stages before WB");
  end
  tag_t fwd_tag_d, fwd_tag_q;
  always_comb begin
    fwd_tag_d = add_d[D_ADD-3].v ? add_d[D_ADD-3] :
                mul_d[D_MUL-3].v ? mul_d[D_MUL-3] : act_d[D_ACT-3];
  end
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      fwd_tag_q <= '0;
    end else begin
      fwd_tag_q <= fwd_tag_d;
    end
  end
  assign fwd_en_o   = fwd_tag_q.v;
  assign fwd_idx_o  = fwd_tag_q.dst;
  // read only in the cycle after fwd_en_o (rill_core decides), when the op is in its last stage
  assign fwd_data_o = add_q[D_ADD-2].v ? add_y_next :
                      mul_q[D_MUL-2].v ? mul_y_next : act_y_next;

  // ---------------------------------------------------------------- write-back mux
  tag_t add_wb, mul_wb, act_wb, fn_wb, fnl_wb, rmax_wb;

  always_comb begin
    add_wb    = add_q[D_ADD-1];
    mul_wb    = mul_q[D_MUL-1];
    act_wb    = act_q[D_ACT-1];
    fn_wb     = fn_q[D_FN-1];
    fnl_wb    = fnl_q[D_FN_LOG-1];
    rmax_wb   = rmax_q[D_RMAX-1];
    wr_en_o   = add_wb.v | mul_wb.v | act_wb.v | sel_tag_q.v | fn_wb.v | fnl_wb.v | rmax_wb.v;
    // at most one tag is valid (asserted below): an AND-OR of the results, no priority chain,
    // since this bus runs on through the banks' bypass and the read select to a register
    // (fn_y is +0 unless a function result leaves: rill_fn gates it with its own valid bits)
    wr_idx_o  = ({IDX_BITS{add_wb.v}} & add_wb.dst) | ({IDX_BITS{mul_wb.v}} & mul_wb.dst) |
                ({IDX_BITS{act_wb.v}} & act_wb.dst) | ({IDX_BITS{sel_tag_q.v}} & sel_tag_q.dst) |
                ({IDX_BITS{fn_wb.v}} & fn_wb.dst) | ({IDX_BITS{fnl_wb.v}} & fnl_wb.dst) |
                ({IDX_BITS{rmax_wb.v}} & rmax_wb.dst);
    wr_data_o = ({B*32{add_wb.v}} & add_y) | ({B*32{mul_wb.v}} & mul_y) |
                ({B*32{act_wb.v}} & act_y) | ({B*32{sel_tag_q.v}} & sel_q) | fn_y |
                ({B*32{rmax_wb.v}} & {B{rmax_y}});
  end

`ifndef SYNTHESIS
  // the compiler never lets two ops land in one cycle (isa.md: one write per bank per edge)
  // (the tags are 0 in reset, so no reset qualifier is needed)
  always_ff @(posedge clk_i) begin
    assert (32'(add_wb.v) + 32'(mul_wb.v) + 32'(act_wb.v) + 32'(sel_tag_q.v) + 32'(fn_wb.v) +
            32'(fnl_wb.v) + 32'(rmax_wb.v) <= 32'd1 && !(mm_tag_q.v && is_sel))
    else $error("rill_vector_unit: two write-backs in one cycle (add %0d mul %0d act %0d sel %0d fn %0d log %0d rmax %0d)",
                add_wb.v, mul_wb.v, act_wb.v, sel_tag_q.v, fn_wb.v, fnl_wb.v, rmax_wb.v);
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
