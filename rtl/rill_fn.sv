// Function unit: RECIP, RSQRT, EXP2 and LOG2, numerics.fn_recip / fn_rsqrt / fn_exp2 / fn_log2
// (docs/numerics.md), bit for bit for every fp32 input (DAZ, FTZ, specials).
// One table, FN_TABLE[{sel, p, k}] = {c0 (unsigned), c1 (signed)}, read at the top 8 fraction
// bits k of a significand (or of EXP2's fixed-point fraction), interpolated with the low 15
// bits r: y = c0 + ((c1 * r) >>> 15) (floor).
// RECIP, RSQRT, EXP2: FN_STAGES (7) register stages, valid_i/sel_i/x_i in cycle c, y_o in
// cycle c+7; LOG2: FN_LOG_STAGES (11), y_o in cycle c+11. y_o is +0 in a cycle in which no
// result leaves; the caller never lets a LOG2 and a shorter op leave in one cycle (the
// compiler's one write-back per cycle; the simulation asserts it).
//   F1  unpack; EXP2: |x| * 2^23 = {1, f, 0000000} >> (134 - e) (the shift amount and the
//       window 103 <= e <= 134 from e[4:0] and e[7:5], as rill_act), the bits shifted out
//       ORed into a sticky bit
//   F2  EXP2: v = floor(x * 2^23) = mag, or ~mag + (nothing shifted out) for a negative x
//       (one carry chain); the 23-bit fraction (v's or the significand's) for the table;
//       the exponent term: RECIP 253 - e, RSQRT 190 - ((e + 1) >> 1), LOG2 E = e - 127
//   T   table read (block-RAM ROM, its registered read) at {sel, p, k}; EXP2's exponent
//       127 + i (i = v >>> 23) and its range (i > 127: +inf, i < -126: +0); the specials
//   R   the ROM word registered again; the exponent + 1 (for y = 2^24) and the FTZ tests
//   M   c1 * r (DSP multiplier)
//   A   y = c0 + (c1 * r >>> 15)
//   P   (RECIP, RSQRT, EXP2) pack: {sign, exponent (+1 if y = 2^24), y[22:0]}, FTZ, specials
//   L1  (LOG2) S = E * 2^24 + y = {E, y[23:0]} (y < 2^24), |S| (one carry chain), sign
//   L2  leading-zero count of |S| (rill_lzc)
//   L3  normalising shift: 24-bit significand, guard, sticky; exponent 133 - lz
//   R1, R2  rill_fp32_round (nearest-even; x = 1 gives S = 0: +0; specials pass)
module rill_fn
  import rill_pkg::*;
(
  input  logic        clk_i,
  input  logic        rst_ni,   // resets the valid bits only
  input  logic        valid_i,  // an op enters
  input  logic [1:0]  sel_i,    // FN_RECIP, FN_RSQRT, FN_EXP2, FN_LOG2
  input  logic [31:0] x_i,
  output logic [31:0] y_o
);

  localparam int unsigned KW    = FN_SEG_BITS;   // 8: segment k
  localparam int unsigned RW    = FN_FRAC_BITS;  // 15: r
  localparam int unsigned FW    = KW + RW;       // 23: fraction
  localparam int unsigned C0W   = FN_C0_BITS;    // 25
  localparam int unsigned C1W   = FN_C1_BITS;    // 18
  localparam int unsigned EW    = C0W + C1W;     // a table word
  localparam int unsigned WORDS = 1 << FN_ADDR_BITS;
  localparam int unsigned PW    = C1W + RW + 1;  // signed c1 * r
  localparam int unsigned YW    = C0W + 1;       // signed sum, y in [0, 2^24]
  localparam int unsigned SW    = 31;            // |S| < 2^31
  localparam int unsigned LZW   = $clog2(SW);
  // EXP2's window: |x| * 2^23 = sig * 2^(e - 127), sig = {1, f}, kept when e >= E2_LO (below,
  // floor gives 0 or -1); |x| >= 256 (e >= E2_LO + 32) saturates
  localparam int unsigned E2_LO = 103;  // 134 - 31
  localparam int unsigned E2_HI = 134;

  if (FW != 23 || E2_LO % 32 == 0 || E2_HI / 32 != E2_LO / 32 + 1) begin : gen_param_check
    $error("rill_fn: the EXP2 window must straddle one multiple of 32, the fraction be 23 bits");
  end

  // specials, as a code (the value is built at the end)
  typedef enum logic [1:0] {
    SP_NONE = 2'd0,
    SP_ZERO = 2'd1,  // signed zero
    SP_INF  = 2'd2,  // signed inf
    SP_NAN  = 2'd3
  } sp_e;

  function automatic logic [31:0] sp_val(sp_e sp, logic sign);
    case (sp)
      SP_ZERO: return {sign, 31'd0};
      SP_INF:  return {sign, 8'hFF, 23'd0};
      default: return NAN32;
    endcase
  endfunction

  // ---------------------------------------------------------------- F1: unpack, EXP2 shift
  logic              f1_v_q;
  logic [1:0]        f1_sel_q;
  logic              f1_s_q;
  logic [7:0]        f1_e_q;
  logic [FW-1:0]     f1_f_q;
  logic [30:0]       f1_mag_d, f1_mag_q;  // floor(|x| * 2^23) inside the window, else 0
  logic              f1_stk_d, f1_stk_q;  // bits of |x| * 2^23 below 1 (x nonzero)

  always_comb begin
    logic [7:0]  e;
    logic [4:0]  k, sh;
    logic [30:0] wide;
    logic        inw, below, stk;
    e    = x_i[30:23];
    k    = e[4:0];
    wide = {1'b1, x_i[22:0], 7'd0};
    // sh = 134 - e, from e[4:0] alone inside the window (a table of 5 bits)
    sh   = '0;
    for (int j = 0; j < 32; j++) begin
      if (k == 5'(j)) sh = 5'((E2_HI - j) % 32);
    end
    inw   = (e[7:5] == 3'(E2_LO / 32) && k >= 5'(E2_LO % 32)) ||
            (e[7:5] == 3'(E2_HI / 32) && k <= 5'(E2_HI % 32));
    below = (e[7:5] < 3'(E2_LO / 32)) || (e[7:5] == 3'(E2_LO / 32) && k < 5'(E2_LO % 32));
    stk   = 1'b0;
    for (int j = 0; j < 31; j++) begin
      stk = stk | (wide[j] & (5'(j) < sh));
    end
    f1_mag_d = inw ? (wide >> sh) : '0;
    f1_stk_d = inw ? stk : (below && e != 8'd0);  // DAZ: zero and subnormals are 0, exact
  end

  // ---------------------------------------------------------------- F2: v, exponent term
  logic              f2_v_q;
  logic [1:0]        f2_sel_q;
  logic              f2_s_q;
  logic [7:0]        f2_e_q;       // for the specials
  logic              f2_fnz_q;     // f != 0
  logic [FW-1:0]     f2_frac_d, f2_frac_q;
  logic              f2_p_d, f2_p_q;
  logic [8:0]        f2_i_d, f2_i_q;   // EXP2: i = v >>> 23
  logic signed [8:0] f2_xb_d, f2_xb_q; // RECIP / RSQRT biased exponent (no +1), LOG2 E

  always_comb begin
    logic [31:0] v;
    logic        neg;
    neg = f1_s_q;
    v   = ({1'b0, f1_mag_q} ^ {32{neg}}) + 32'(neg && !f1_stk_q);  // floor(x * 2^23)
    f2_frac_d = (f1_sel_q == FN_EXP2) ? v[FW-1:0] : f1_f_q;
    f2_i_d    = v[31:23];
    f2_p_d    = (f1_sel_q == FN_RSQRT) && !f1_e_q[0];  // parity of E = e - 127
    case (f1_sel_q)
      FN_RECIP: f2_xb_d = 9'sd253 - $signed({1'b0, f1_e_q});
      FN_RSQRT: f2_xb_d = 9'sd190 - $signed({2'b0, f1_e_q[7:1]}) - $signed(9'(f1_e_q[0]));
      default:  f2_xb_d = $signed({1'b0, f1_e_q}) - 9'sd127;
    endcase
  end

  // ---------------------------------------------------------------- T: table read, specials
  // The ROM and its read register (rom_q) map onto block RAM.
  logic              t_v_q;
  logic [1:0]        t_sel_q;
  logic [EW-1:0]     rom [WORDS];
  logic [EW-1:0]     rom_d, rom_q;
  logic [RW-1:0]     t_r_q;
  logic              t_s_d, t_s_q;     // the sign of a packed result
  logic signed [8:0] t_xb_d, t_xb_q;
  sp_e               t_sp_d, t_sp_q;
  logic              t_sps_d, t_sps_q; // the special's sign

  initial begin
    for (int j = 0; j < WORDS; j++) begin
      rom[j] = FN_TABLE[j];
    end
  end

  assign rom_d = rom[{f2_sel_q, f2_p_q, f2_frac_q[FW-1:RW]}];

  always_comb begin
    logic zero, eff, nan, inf, s, over, under;
    s     = f2_s_q;
    zero  = f2_e_q == 8'd0;  // DAZ
    eff   = f2_e_q == 8'hFF;
    nan   = eff && f2_fnz_q;
    inf   = eff && !f2_fnz_q;
    // EXP2: i in [-256, 255]; |x| >= 256 (e >= 135, inf and NaN too) by the sign
    over  = (!f2_i_q[8] && f2_i_q[7]) || (f2_e_q >= 8'(E2_HI + 1) && !s);          // i > 127
    under = (f2_i_q[8] && f2_i_q[7:0] <= 8'h81) || (f2_e_q >= 8'(E2_HI + 1) && s);  // i < -126
    t_sps_d = s;
    t_sp_d  = SP_NONE;
    t_s_d   = 1'b0;
    t_xb_d  = f2_xb_q;
    case (f2_sel_q)
      FN_RECIP: begin
        t_s_d = s;
        if (nan)       t_sp_d = SP_NAN;
        else if (zero) t_sp_d = SP_INF;
        else if (inf)  t_sp_d = SP_ZERO;
      end
      FN_RSQRT: begin
        if (nan || (s && !zero)) t_sp_d = SP_NAN;
        else if (zero)           t_sp_d = SP_INF;
        else if (inf)            t_sp_d = SP_ZERO;
      end
      FN_EXP2: begin
        t_xb_d  = $signed(f2_i_q) + 9'sd127;
        t_sps_d = 1'b0;
        if (nan)        t_sp_d = SP_NAN;
        else if (over)  t_sp_d = SP_INF;
        else if (under) t_sp_d = SP_ZERO;
      end
      default: begin  // FN_LOG2
        if (nan || (s && !zero)) t_sp_d = SP_NAN;
        else if (zero) begin
          t_sp_d  = SP_INF;
          t_sps_d = 1'b1;
        end else if (inf) begin
          t_sp_d = SP_INF;
        end
      end
    endcase
  end

  // ---------------------------------------------------------------- R: register the ROM word
  logic                 r_v_q;
  logic [1:0]           r_sel_q;
  logic [C0W-1:0]       c0_d, c0_q;
  logic [C1W-1:0]       c1_d, c1_q;
  logic [RW-1:0]        r_r_q;
  logic                 r_s_q, r_sps_q;
  sp_e                  r_sp_q;
  logic signed [8:0]    r_xb_q;
  logic [7:0]           r_b1_d, r_b1_q;   // exponent + 1, for y = 2^24
  logic                 r_ftz0_d, r_ftz0_q, r_ftz1_d, r_ftz1_q;  // FTZ without / with the + 1

  always_comb begin
    c0_d     = rom_q[EW-1:C1W];
    c1_d     = rom_q[C1W-1:0];
    r_b1_d   = t_xb_q[7:0] + 8'd1;
    r_ftz0_d = t_xb_q <= 9'sd0;
    r_ftz1_d = t_xb_q < 9'sd0;
  end

  // ---------------------------------------------------------------- M: multiply
  logic                 m_v_q;
  logic [1:0]           m_sel_q;
  logic [C0W-1:0]       m_c0_q;
  logic                 m_s_q, m_sps_q;
  sp_e                  m_sp_q;
  logic signed [8:0]    m_xb_q;
  logic [7:0]           m_b1_q;
  logic                 m_ftz0_q, m_ftz1_q;
  logic signed [PW-1:0] prod_d, prod_q;

  assign prod_d = PW'($signed(c1_q)) * $signed({1'b0, r_r_q});

  // ---------------------------------------------------------------- A: add
  logic                 a_v_q;
  logic [1:0]           a_sel_q;
  logic                 a_s_q, a_sps_q;
  sp_e                  a_sp_q;
  logic signed [8:0]    a_xb_q;
  logic [7:0]           a_b1_q;
  logic                 a_ftz0_q, a_ftz1_q;
  /* verilator lint_off UNUSEDSIGNAL */
  logic signed [YW-1:0] y_d, y_q;  // in [0, 2^24]: the sign bit is unused
  /* verilator lint_on UNUSEDSIGNAL */

  assign y_d = $signed({1'b0, m_c0_q}) + YW'(prod_q >>> RW);

  // ---------------------------------------------------------------- P: pack (short ops)
  logic        p_v_d, p_v_q;
  logic [31:0] p_y_d, p_y_q;

  always_comb begin
    logic one, ftz;
    logic [7:0] be;
    one   = y_q[24];  // y = 2^24 (RECIP, RSQRT): significand 1, exponent + 1
    be    = one ? a_b1_q : a_xb_q[7:0];
    ftz   = one ? a_ftz1_q : a_ftz0_q;
    p_v_d = a_v_q && a_sel_q != FN_LOG2;
    if (a_sp_q != SP_NONE) begin
      p_y_d = sp_val(a_sp_q, a_sps_q);
    end else if (ftz) begin
      p_y_d = {a_s_q, 31'd0};
    end else begin
      p_y_d = {a_s_q, be, y_q[22:0]};  // y - 2^23, or 0 when y = 2^24
    end
  end

  // ---------------------------------------------------------------- L1: |S| (LOG2)
  logic          l1_v_q, l1_neg_d, l1_neg_q;
  sp_e           l1_sp_q;
  logic          l1_sps_q;
  logic [SW-1:0] l1_mag_d, l1_mag_q;

  always_comb begin
    logic signed [32:0] s;
    s        = {a_xb_q, y_q[23:0]};  // E * 2^24 + y, y < 2^24
    l1_neg_d = a_xb_q[8];
    l1_mag_d = SW'(l1_neg_d ? -s : s);
  end

  // ---------------------------------------------------------------- L2: leading zeros
  logic           l2_v_q, l2_neg_q, l2_sps_q;
  sp_e            l2_sp_q;
  logic [SW-1:0]  l2_mag_q;
  logic [LZW-1:0] lz_d, l2_lz_q;
  logic           empty_d, l2_empty_q;

  rill_lzc #(
    .WIDTH (SW)
  ) u_lzc (
    .in_i    (l1_mag_q),
    .cnt_o   (lz_d),
    .empty_o (empty_d)
  );

  // ---------------------------------------------------------------- L3: normalise
  logic              l3_v_q;
  logic              n_sign_d, n_sign_q, n_guard_d, n_guard_q, n_sticky_d, n_sticky_q;
  logic              n_special_d, n_special_q;
  logic signed [9:0] n_exp_d, n_exp_q;
  logic [23:0]       n_sig_d, n_sig_q;
  logic [31:0]       n_special_val_d, n_special_val_q;

  always_comb begin
    logic [SW-1:0] norm;
    norm            = l2_mag_q << l2_lz_q;  // MSB at bit SW-1
    n_sig_d         = norm[SW-1 -: 24];
    n_guard_d       = norm[SW-25];
    n_sticky_d      = |norm[SW-26:0];
    // |S| * 2^-24 = 1.f * 2^(SW - 1 - lz - 24)
    n_exp_d         = $signed(10'(127 + SW - 1 - 24) - 10'(l2_lz_q));
    n_sign_d        = l2_neg_q;
    n_special_d     = (l2_sp_q != SP_NONE) || l2_empty_q;  // S = 0 (x = 1): +0
    n_special_val_d = (l2_sp_q != SP_NONE) ? sp_val(l2_sp_q, l2_sps_q) : 32'd0;
  end

  // ---------------------------------------------------------------- R1, R2: round
  logic [31:0] log_y;

  /* verilator lint_off UNUSEDSIGNAL */
  // the rounder's early output, unused here: only the adders' results are forwarded (issue 11)
  logic [31:0] y_next_unused;
  /* verilator lint_on UNUSEDSIGNAL */
  rill_fp32_round #(
    .EXP_W (10)
  ) u_round (
    .clk_i,
    .sign_i        (n_sign_q),
    .exp_i         (n_exp_q),
    .sig_i         (n_sig_q),
    .guard_i       (n_guard_q),
    .sticky_i      (n_sticky_q),
    .special_i     (n_special_q),
    .special_val_i (n_special_val_q),
    .y_o           (log_y),
    .y_next_o      (y_next_unused)
  );

  // ---------------------------------------------------------------- registers
  logic r1_v_q, r2_v_q;  // LOG2 in R1, R2

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      f1_v_q <= 1'b0;
      f2_v_q <= 1'b0;
      t_v_q  <= 1'b0;
      r_v_q  <= 1'b0;
      m_v_q  <= 1'b0;
      a_v_q  <= 1'b0;
      p_v_q      <= 1'b0;
      l1_v_q     <= 1'b0;
      l2_v_q     <= 1'b0;
      l3_v_q     <= 1'b0;
      r1_v_q     <= 1'b0;
      r2_v_q     <= 1'b0;
    end else begin
      f1_v_q <= valid_i;
      f2_v_q <= f1_v_q;
      t_v_q  <= f2_v_q;
      r_v_q  <= t_v_q;
      m_v_q  <= r_v_q;
      a_v_q  <= m_v_q;
      p_v_q      <= p_v_d;
      l1_v_q     <= a_v_q && a_sel_q == FN_LOG2;
      l2_v_q     <= l1_v_q;
      l3_v_q     <= l2_v_q;
      r1_v_q     <= l3_v_q;
      r2_v_q     <= r1_v_q;
    end
  end

  always_ff @(posedge clk_i) begin
    // F1
    f1_sel_q <= sel_i;
    f1_s_q       <= x_i[31];
    f1_e_q       <= x_i[30:23];
    f1_f_q       <= x_i[22:0];
    f1_mag_q     <= f1_mag_d;
    f1_stk_q     <= f1_stk_d;
    // F2
    f2_sel_q <= f1_sel_q;
    f2_s_q       <= f1_s_q;
    f2_e_q       <= f1_e_q;
    f2_fnz_q     <= f1_f_q != '0;
    f2_frac_q    <= f2_frac_d;
    f2_p_q       <= f2_p_d;
    f2_i_q       <= f2_i_d;
    f2_xb_q      <= f2_xb_d;
    // T
    t_sel_q  <= f2_sel_q;
    rom_q        <= rom_d;
    t_r_q        <= f2_frac_q[RW-1:0];
    t_s_q        <= t_s_d;
    t_xb_q       <= t_xb_d;
    t_sp_q       <= t_sp_d;
    t_sps_q      <= t_sps_d;
    // R
    r_sel_q  <= t_sel_q;
    c0_q         <= c0_d;
    c1_q         <= c1_d;
    r_r_q        <= t_r_q;
    r_s_q        <= t_s_q;
    r_sps_q      <= t_sps_q;
    r_sp_q       <= t_sp_q;
    r_xb_q       <= t_xb_q;
    r_b1_q       <= r_b1_d;
    r_ftz0_q     <= r_ftz0_d;
    r_ftz1_q     <= r_ftz1_d;
    // M
    m_sel_q  <= r_sel_q;
    m_c0_q       <= c0_q;
    m_s_q        <= r_s_q;
    m_sps_q      <= r_sps_q;
    m_sp_q       <= r_sp_q;
    m_xb_q       <= r_xb_q;
    m_b1_q       <= r_b1_q;
    m_ftz0_q     <= r_ftz0_q;
    m_ftz1_q     <= r_ftz1_q;
    prod_q       <= prod_d;
    // A
    a_sel_q  <= m_sel_q;
    a_s_q        <= m_s_q;
    a_sps_q      <= m_sps_q;
    a_sp_q       <= m_sp_q;
    a_xb_q       <= m_xb_q;
    a_b1_q       <= m_b1_q;
    a_ftz0_q     <= m_ftz0_q;
    a_ftz1_q     <= m_ftz1_q;
    y_q          <= y_d;
    // P
    p_y_q        <= p_y_d;
    // L1
    l1_neg_q     <= l1_neg_d;
    l1_sp_q      <= a_sp_q;
    l1_sps_q     <= a_sps_q;
    l1_mag_q     <= l1_mag_d;
    // L2
    l2_neg_q     <= l1_neg_q;
    l2_sp_q      <= l1_sp_q;
    l2_sps_q     <= l1_sps_q;
    l2_mag_q     <= l1_mag_q;
    l2_lz_q      <= lz_d;
    l2_empty_q   <= empty_d;
    // L3
    n_sign_q        <= n_sign_d;
    n_exp_q         <= n_exp_d;
    n_sig_q         <= n_sig_d;
    n_guard_q       <= n_guard_d;
    n_sticky_q      <= n_sticky_d;
    n_special_q     <= n_special_d;
    n_special_val_q <= n_special_val_d;
  end

  // one output: the short ops' pack register or the rounder's, by the valid bits
  assign y_o = ({32{p_v_q}} & p_y_q) | ({32{r2_v_q}} & log_y);

`ifndef SYNTHESIS
  always_ff @(posedge clk_i) begin
    assert (!(p_v_q && r2_v_q))
    else $error("rill_fn: a LOG2 and a shorter op leave in one cycle");
  end
`endif

endmodule
