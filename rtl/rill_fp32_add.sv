// fp32 adder/subtractor, numerics.fp32_add / fp32_sub (docs/numerics.md).
// Round to nearest even, DAZ on inputs, FTZ on the result, canonical NaN 0x7FC00000,
// x + (-x) = +0, (-0) + (-0) = -0, inf - inf = NaN.
// Four register stages: inputs in cycle c, y_o valid in cycle c+4.
//   A1 align: specials, magnitude compare and swap, alignment shift with sticky
//   A2 add:   27-bit significand add / subtract
//   A3 norm:  carry-out or leading-zero normalisation
//   A4 round: nearest-even increment, overflow to inf, FTZ, specials
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
  output logic [31:0] y_o
);

  // ---------------------------------------------------------------- A1: align
  typedef struct packed {
    logic        nan;        // result is NaN
    logic        inf;        // result is inf (sign in inf_sign)
    logic        inf_sign;
    logic        both_zero;  // both operands zero: result is (sa & sb) zero
    logic        zero_sign;
    logic        sign;       // sign of the larger magnitude
    logic        eff_sub;
    logic [7:0]  exp;        // exponent of the larger magnitude
    logic [23:0] big;        // significand of the larger magnitude
    logic [26:0] sml;      // aligned smaller significand: 24 bits, guard, round, sticky
  } a1_t;

  a1_t a1_d, a1_q;

  always_comb begin
    logic        sa, sb, za, zb, nan_a, nan_b, inf_a, inf_b, swap;
    logic [30:0] mag_a, mag_b;
    logic [7:0]  eb_big, eb_small, d;
    logic [23:0] sig_small;
    logic [49:0] shifted;

    sa    = a_i[31];
    sb    = b_i[31] ^ sub_i;
    za    = a_i[30:23] == 8'd0;
    zb    = b_i[30:23] == 8'd0;
    nan_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] != 23'd0);
    nan_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] != 23'd0);
    inf_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] == 23'd0);
    inf_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] == 23'd0);
    mag_a = za ? 31'd0 : a_i[30:0];  // DAZ
    mag_b = zb ? 31'd0 : b_i[30:0];
    swap  = mag_b > mag_a;

    a1_d.nan       = nan_a | nan_b | (inf_a & inf_b & (sa != sb));
    a1_d.inf       = inf_a | inf_b;
    a1_d.inf_sign  = inf_a ? sa : sb;
    a1_d.both_zero = za & zb;
    a1_d.zero_sign = sa & sb;
    a1_d.sign      = swap ? sb : sa;
    a1_d.eff_sub   = sa ^ sb;

    eb_big     = swap ? mag_b[30:23] : mag_a[30:23];
    eb_small   = swap ? mag_a[30:23] : mag_b[30:23];
    a1_d.exp   = eb_big;
    a1_d.big   = swap ? {~zb, mag_b[22:0]} : {~za, mag_a[22:0]};
    sig_small  = swap ? {~za, mag_a[22:0]} : {~zb, mag_b[22:0]};
    d          = eb_big - eb_small;
    // any shift >= 27 leaves only sticky; 31 keeps the hidden bit inside the 50-bit field
    shifted    = {sig_small, 26'd0} >> ((d > 8'd31) ? 8'd31 : d);
    a1_d.sml = {shifted[49:24], |shifted[23:0]};
  end

  // ---------------------------------------------------------------- A2: add
  typedef struct packed {
    logic        nan;
    logic        inf;
    logic        inf_sign;
    logic        both_zero;
    logic        zero_sign;
    logic        sign;
    logic [7:0]  exp;
    logic [27:0] sum;  // [27] carry, [26:3] significand, [2:1] guard/round, [0] sticky
  } a2_t;

  a2_t a2_d, a2_q;

  always_comb begin
    logic [27:0] big_ext, small_ext;
    big_ext        = {1'b0, a1_q.big, 3'b000};
    small_ext      = {1'b0, a1_q.sml};
    a2_d.nan       = a1_q.nan;
    a2_d.inf       = a1_q.inf;
    a2_d.inf_sign  = a1_q.inf_sign;
    a2_d.both_zero = a1_q.both_zero;
    a2_d.zero_sign = a1_q.zero_sign;
    a2_d.sign      = a1_q.sign;
    a2_d.exp       = a1_q.exp;
    a2_d.sum       = a1_q.eff_sub ? big_ext - small_ext : big_ext + small_ext;
  end

  // ---------------------------------------------------------------- A3: normalise
  typedef struct packed {
    logic        nan;
    logic        inf;
    logic        inf_sign;
    logic        both_zero;
    logic        zero_sign;
    logic        sum_zero;  // exact cancellation: +0
    logic        sign;
    logic signed [9:0] exp;
    logic [23:0] sig;
    logic        guard;
    logic        sticky;
  } a3_t;

  a3_t a3_d, a3_q;

  always_comb begin
    logic [4:0]  lz;
    logic [26:0] t;
    lz = 5'd0;
    for (int i = 0; i < 27; i++) begin
      if (a2_q.sum[i]) lz = 5'(26 - i);
    end
    t = a2_q.sum[26:0] << lz;

    a3_d.nan       = a2_q.nan;
    a3_d.inf       = a2_q.inf;
    a3_d.inf_sign  = a2_q.inf_sign;
    a3_d.both_zero = a2_q.both_zero;
    a3_d.zero_sign = a2_q.zero_sign;
    a3_d.sum_zero  = a2_q.sum == 28'd0;
    a3_d.sign      = a2_q.sign;
    if (a2_q.sum[27]) begin
      a3_d.exp    = $signed({2'b00, a2_q.exp}) + 10'sd1;
      a3_d.sig    = a2_q.sum[27:4];
      a3_d.guard  = a2_q.sum[3];
      a3_d.sticky = |a2_q.sum[2:0];
    end else begin
      // lz >= 2 only after cancellation with an exponent difference <= 1: no sticky lost
      a3_d.exp    = $signed({2'b00, a2_q.exp}) - $signed({5'd0, lz});
      a3_d.sig    = t[26:3];
      a3_d.guard  = t[2];
      a3_d.sticky = |t[1:0];
    end
  end

  // ---------------------------------------------------------------- A4: round, specials
  logic [31:0] y_d, y_q;

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [24:0] r;  // r[23] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic signed [9:0] e;
    logic        inc;
    inc = a3_q.guard & (a3_q.sticky | a3_q.sig[0]);
    r   = {1'b0, a3_q.sig} + {24'd0, inc};
    e   = r[24] ? a3_q.exp + 10'sd1 : a3_q.exp;
    if (a3_q.nan) begin
      y_d = NAN32;
    end else if (a3_q.inf) begin
      y_d = {a3_q.inf_sign, 8'hFF, 23'd0};
    end else if (a3_q.both_zero) begin
      y_d = {a3_q.zero_sign, 31'd0};
    end else if (a3_q.sum_zero) begin
      y_d = 32'd0;
    end else if (e >= 10'sd255) begin
      y_d = {a3_q.sign, 8'hFF, 23'd0};
    end else if (e <= 10'sd0) begin
      y_d = {a3_q.sign, 31'd0};  // FTZ (such sums are exact)
    end else begin
      // a carry out of the increment leaves r = 2^24: fraction zero either way
      y_d = {a3_q.sign, e[7:0], r[24] ? 23'd0 : r[22:0]};
    end
  end

  always_ff @(posedge clk_i) begin
    a1_q <= a1_d;
    a2_q <= a2_d;
    a3_q <= a3_d;
    y_q  <= y_d;
  end

  assign y_o = y_q;

endmodule
