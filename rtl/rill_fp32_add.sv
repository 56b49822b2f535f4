// fp32 adder/subtractor, numerics.fp32_add / fp32_sub (docs/numerics.md).
// Round to nearest even, DAZ on inputs, FTZ on the result, canonical NaN 0x7FC00000,
// x + (-x) = +0, (-0) + (-0) = -0, inf - inf = NaN.
// Four register stages (rill_pkg::ADD_STAGES): inputs in cycle c, y_o valid in cycle c+4.
//   A1 align:  specials (the finished value); exponent difference d and which operand is
//              larger by exponent (by magnitude, with a fraction compare, for the sign);
//              far path: the smaller significand pre-aligned by d mod 8 (from the low exponent
//              bits, in parallel); near path: the four possible exact differences (d = 0 or 1,
//              either operand larger), the compares pick one
//   A2 add:    far path: the rest of the alignment (a shift by 8 * (d / 8)), sticky from a
//              mask of what falls off, the 27-bit add / subtract without the sticky;
//              near path: leading-zero count of the difference (rill_lzc)
//   R1         rill_fp32_round's first stage, fed by the normalisation: far path: carry, none
//              or one leading zero (a mux) with the sticky's borrow folded into the guard;
//              near path: shift by the count, pack, FTZ: a finished value for R1 / R2
//   R2         rill_fp32_round's select and pack
// Two paths as in a near/far adder: only an effective subtraction with d <= 1 (near) can cancel
// more than one leading bit, and it is exact (nothing is shifted out), so it needs no sticky,
// its difference can be formed from the raw operands in A1, and with a leading zero it needs
// no rounding; everything else (far) needs at most a one-bit normalisation.
module rill_fp32_add
  import rill_pkg::*;
(
  input  logic        clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic        rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [31:0] a_i,
  input  logic [31:0] b_i,
  input  logic        sub_i,
  output logic [31:0] y_o,
  output logic [31:0] y_next_o  // y_o one cycle early (R2 before its register): the forwards
);

  // A1, A2, then the two of rill_fp32_round
  localparam int unsigned Stages = 2 + 2;

  if (Stages != ADD_STAGES) begin : gen_stages_check
    $error("rill_fp32_add: %0d register stages, rill_pkg::ADD_STAGES = %0d", Stages,
           ADD_STAGES);
  end

  // ---------------------------------------------------------------- A1: align
  typedef struct packed {
    logic        special;      // NaN, inf, a zero operand pair or exact cancellation:
    logic [31:0] special_val;  // the finished result
    logic        sign;         // sign of the larger magnitude (and of the result)
    logic        eff_sub;
    // near path candidate: effective subtraction, the smaller operand nonzero (near_pre) and
    // d <= 1 (d_lo_le1 with d_ge32 = 0 and d8 = 0; A2 combines them, off A1's carry chains)
    logic        near_pre;
    logic        d_lo_le1;     // d mod 8 <= 1
    logic [7:0]  exp;          // exponent of the larger operand
    logic [22:0] frac;         // its fraction (hidden bit 1: a zero larger operand is special)
    // the smaller significand pre-aligned by d mod 8: bits [49:19] of {sig, 26'b0} >> (d mod 8),
    // all of sig; zero if it is zero (DAZ)
    logic [30:0] pre;
    logic        d_ge32;       // d >= 32: the smaller significand is all sticky
    logic [1:0]  d8;           // d / 8 (mod 4)
    // near path: {big sig, 0} - (small sig aligned by d), exact, if d <= 1
    logic [24:0] diff;
  } a1_t;

  a1_t a1_d, a1_q;

  // (x - y) mod 8 as logic: the low exponent bits alone, no carry chain
  function automatic logic [2:0] sub_mod8(logic [2:0] x, logic [2:0] y);
    logic b0, b1;  // borrows out of bits 0 and 1
    b0 = ~x[0] & y[0];
    b1 = (~x[1] & y[1]) | (~(x[1] ^ y[1]) & b0);
    return {x[2] ^ y[2] ^ b1, x[1] ^ y[1] ^ b0, x[0] ^ y[0]};
  endfunction

  // a case, not >>: synthesis would share the two shifters behind the swap mux, in series
  function automatic logic [30:0] shr_mod8(logic [30:0] x, logic [2:0] r);
    unique case (r)
      3'd0:    return x;
      3'd1:    return {1'b0, x[30:1]};
      3'd2:    return {2'b0, x[30:2]};
      3'd3:    return {3'b0, x[30:3]};
      3'd4:    return {4'b0, x[30:4]};
      3'd5:    return {5'b0, x[30:5]};
      3'd6:    return {6'b0, x[30:6]};
      default: return {7'b0, x[30:7]};
    endcase
  endfunction

  always_comb begin
    logic              sa, sb, za, zb, nan_a, nan_b, inf_a, inf_b, nan, inf;
    logic              b_exp_gt, eq_exp, b_frac_gt, swap;
    logic [7:0]        ea, eb;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [8:0]        dab;  // ea - eb with its borrow: d mod 8 comes from sub_mod8 instead
    logic [7:0]        dba;  // eb - ea: likewise
    /* verilator lint_on UNUSEDSIGNAL */
    logic [7:3]        d;    // |ea - eb| / 8 (the rest is from the low exponent bits)
    logic [2:0]        r_ab, r_ba;  // d mod 8 for b or a the smaller
    logic [30:0]       pre_a, pre_b;  // each significand pre-aligned as if it were the smaller
    logic [24:0]       diff0_ab, diff0_ba, diff1_ab, diff1_ba;  // near: d = 0 or 1, a or b big

    sa    = a_i[31];
    sb    = b_i[31] ^ sub_i;
    ea    = a_i[30:23];
    eb    = b_i[30:23];
    za    = ea == 8'd0;
    zb    = eb == 8'd0;
    nan_a = (ea == 8'hFF) && (a_i[22:0] != 23'd0);
    nan_b = (eb == 8'hFF) && (b_i[22:0] != 23'd0);
    inf_a = (ea == 8'hFF) && (a_i[22:0] == 23'd0);
    inf_b = (eb == 8'hFF) && (b_i[22:0] == 23'd0);
    nan   = nan_a | nan_b | (inf_a & inf_b & (sa != sb));
    inf   = inf_a | inf_b;

    a1_d.special = nan | inf | (za & zb) | ((sa != sb) && (a_i[30:0] == b_i[30:0]));
    if (nan) begin
      a1_d.special_val = NAN32;
    end else if (inf) begin
      a1_d.special_val = {inf_a ? sa : sb, 8'hFF, 23'd0};
    end else if (za & zb) begin
      a1_d.special_val = {sa & sb, 31'd0};
    end else begin
      a1_d.special_val = 32'd0;  // exact cancellation: +0
    end

    // The far path orders the operands by exponent alone (with equal exponents it only adds,
    // in either order); only the sign and the near path need the full magnitude order, from
    // a separate fraction compare. Raw encodings order like the magnitudes after DAZ except
    // when both are zero or subnormal, which is special.
    dab       = {1'b0, ea} - {1'b0, eb};
    dba       = eb - ea;
    b_exp_gt  = dab[8];
    eq_exp    = ea == eb;
    // b's fraction > a's: the borrow of the near path's a - b (one carry chain for both; a
    // separate compare shares its XORs with that subtraction and gets deeper)
    diff0_ab  = {1'b0, a_i[22:0], 1'b0} - {1'b0, b_i[22:0], 1'b0};
    b_frac_gt = diff0_ab[24];
    swap      = b_exp_gt | (eq_exp & b_frac_gt);
    d         = b_exp_gt ? dba[7:3] : dab[7:3];

    a1_d.sign      = swap ? sb : sa;
    a1_d.eff_sub   = sa ^ sb;
    a1_d.near_pre  = (sa != sb) && !(b_exp_gt ? za : zb);
    a1_d.exp       = b_exp_gt ? eb : ea;
    a1_d.frac      = b_exp_gt ? b_i[22:0] : a_i[22:0];

    // d mod 8 from the low exponent bits, in parallel with the differences: the first
    // alignment step
    r_ab  = sub_mod8(ea[2:0], eb[2:0]);
    r_ba  = sub_mod8(eb[2:0], ea[2:0]);
    pre_a = za ? 31'd0 : shr_mod8({1'b1, a_i[22:0], 7'd0}, r_ba);
    pre_b = zb ? 31'd0 : shr_mod8({1'b1, b_i[22:0], 7'd0}, r_ab);
    a1_d.pre    = b_exp_gt ? pre_a : pre_b;
    a1_d.d_lo_le1 = b_exp_gt ? (r_ba[2:1] == 2'd0) : (r_ab[2:1] == 2'd0);
    a1_d.d_ge32 = d[7:5] != 3'd0;
    a1_d.d8     = d[4:3];

    // Near path: the four possible differences from the raw operands, in parallel with the
    // compares, which pick one; its leading-zero count follows in A2.
    diff0_ba = {1'b0, b_i[22:0], 1'b0} - {1'b0, a_i[22:0], 1'b0};
    diff1_ab = {1'b1, a_i[22:0], 1'b0} - {2'b01, b_i[22:0]};
    diff1_ba = {1'b1, b_i[22:0], 1'b0} - {2'b01, a_i[22:0]};
    if (eq_exp) begin
      a1_d.diff = b_frac_gt ? diff0_ba : diff0_ab;
    end else begin
      a1_d.diff = b_exp_gt ? diff1_ba : diff1_ab;
    end
  end

  // ---------------------------------------------------------------- A2: add, count
  typedef struct packed {
    logic        special;
    logic [31:0] special_val;
    logic        sign;
    logic        near_cand;
    logic        borrow;  // effective subtraction with sticky: the sum is a little too large
    logic        sticky;  // some bit of the smaller significand fell below the round bit
    logic signed [9:0] exp;     // exponent of the larger operand
    logic signed [9:0] exp_p1;  // + 1
    logic signed [9:0] exp_m1;  // - 1
    // far: big +- aligned small without the sticky: [26] carry, [25:2] significand,
    // [1:0] guard / round
    logic [26:0] sum;
    logic [24:0] diff;  // near: the exact difference
    logic [4:0]  lz;    // near: its leading zeros
  } a2_t;

  a2_t a2_d, a2_q;

  logic [4:0] diff_lz;
  /* verilator lint_off UNUSEDSIGNAL */
  logic       diff_zero;  // the near path has no zero difference (exact cancellation is special)
  /* verilator lint_on UNUSEDSIGNAL */

  rill_lzc #(.WIDTH(25)) u_lzc (.in_i(a1_q.diff), .cnt_o(diff_lz), .empty_o(diff_zero));

  // what falls below the window for d / 8 = k: pre[8k+4:0] (pre[i] is bit 19 + i of the shift);
  // all of it for d >= 32
  function automatic logic [30:0] sticky_mask(logic ge32, logic [1:0] k);
    if (ge32) return 31'h7FFFFFFF;
    unique case (k)
      2'd0:    return 31'h0000001F;
      2'd1:    return 31'h00001FFF;
      2'd2:    return 31'h001FFFFF;
      default: return 31'h1FFFFFFF;
    endcase
  endfunction

  always_comb begin
    logic [25:0] win;  // the aligned smaller significand: bits [49:24] of {sig, 26'b0} >> d
    /* verilator lint_off UNUSEDSIGNAL */
    logic [30:0] aligned;  // pre >> 8k: [30:5] the window, below it the sticky part
    logic [27:0] sum;      // sum[0] is the carry-in slot
    /* verilator lint_on UNUSEDSIGNAL */
    aligned = a1_q.pre >> {a1_q.d8, 3'b000};
    win     = a1_q.d_ge32 ? 26'd0 : aligned[30:5];
    // The sticky does not enter the adder (it would be the slowest input of the carry
    // chain): its borrow of a subtraction is folded into the guard bit before rounding.
    a2_d.sticky = |(a1_q.pre & sticky_mask(a1_q.d_ge32, a1_q.d8));
    // big +- win: one adder, the subtraction's + 1 enters through the extra low bit
    sum = {1'b0, 1'b1, a1_q.frac, 2'b00, 1'b1}
        + ({1'b0, win, a1_q.eff_sub} ^ {{27{a1_q.eff_sub}}, 1'b0});

    a2_d.special     = a1_q.special;
    a2_d.special_val = a1_q.special_val;
    a2_d.sign        = a1_q.sign;
    a2_d.near_cand   = a1_q.near_pre && a1_q.d_lo_le1 && !a1_q.d_ge32 && (a1_q.d8 == 2'd0);
    a2_d.borrow      = a1_q.eff_sub & a2_d.sticky;
    a2_d.exp         = $signed({2'b00, a1_q.exp});
    a2_d.exp_p1      = $signed({2'b00, a1_q.exp}) + 10'sd1;
    a2_d.exp_m1      = $signed({2'b00, a1_q.exp}) - 10'sd1;
    a2_d.sum         = sum[27:1];
    a2_d.diff        = a1_q.diff;
    a2_d.lz          = diff_lz;
  end

  always_ff @(posedge clk_i) begin
    a1_q <= a1_d;
    a2_q <= a2_d;
  end

  // ---------------------------------------------------------------- normalise into R1
  // Far path: carry, none or one leading zero. With an effective subtraction's sticky the exact
  // difference is sum - e, 0 < e < one unit of sum[0]. That moves no leading one (sum > 2^24
  // then; sum = 2^25 - e rounds back to 2^25) and changes the rounding only through the guard:
  // with no shift, guard, round bit and e give a guard that stays only if the round bit is set;
  // with one leading zero the guard is sum[0], which e always clears.
  // Near path: exact; with a leading zero (lz >= 1) it has at most 24 bits and needs no rounding,
  // so it is finished here (FTZ is its only case) and passes R1 / R2 as a finished value; with
  // lz = 0 (d = 1, no cancelled bit) the far path has the same exact sum.
  logic signed [9:0] norm_exp;
  logic [23:0]       norm_sig;
  logic              norm_guard, norm_sticky, fin;
  logic [31:0]       fin_val;

  always_comb begin
    logic [26:0] s;
    logic [22:0] near_frac;  // near: the difference normalised (leading one at 24, implied)
    logic [7:0]  near_exp;   // its packed exponent, when above 0
    s = a2_q.sum;
    if (s[26]) begin
      norm_exp    = a2_q.exp_p1;
      norm_sig    = s[26:3];
      norm_guard  = s[2];
      norm_sticky = |{s[1:0], a2_q.sticky};
    end else if (s[25]) begin
      norm_exp    = a2_q.exp;
      norm_sig    = s[25:2];
      norm_guard  = s[1] & (s[0] | !a2_q.borrow);
      norm_sticky = s[0] | a2_q.sticky;
    end else begin
      // one leading zero: a subtraction with d >= 2
      norm_exp    = a2_q.exp_m1;
      norm_sig    = s[24:1];
      norm_guard  = s[0] & !a2_q.borrow;
      norm_sticky = a2_q.sticky;
    end

    near_frac = 23'((a2_q.diff << a2_q.lz) >> 1);  // bit 0 of the shifted difference is 0
    near_exp  = a2_q.exp[7:0] - {3'b000, a2_q.lz};
    fin       = a2_q.special | (a2_q.near_cand & (a2_q.lz != 5'd0));
    if (a2_q.special) begin
      fin_val = a2_q.special_val;
    end else if ({3'b000, a2_q.lz} >= a2_q.exp[7:0]) begin
      fin_val = {a2_q.sign, 31'd0};  // FTZ: exponent <= 0
    end else begin
      fin_val = {a2_q.sign, near_exp, near_frac};
    end
  end

  // ---------------------------------------------------------------- R1, R2: round, pack
  rill_fp32_round #(
    .EXP_W(10)
  ) u_round (
    .clk_i,
    .sign_i       (a2_q.sign),
    .exp_i        (norm_exp),
    .sig_i        (norm_sig),
    .guard_i      (norm_guard),
    .sticky_i     (norm_sticky),
    .special_i    (fin),
    .special_val_i(fin_val),
    .y_o,
    .y_next_o
  );

endmodule
