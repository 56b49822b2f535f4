// Activation unit: TANH, SIGMOID and PHI, numerics.act_tanh / act_sigmoid / act_phi
// (docs/numerics.md). Five register stages: inputs in cycle c, y_o valid in cycle c+5.
// Two tables in one ROM of 2048 words, address {phi, segment}: ACT_TABLE (tanh) and
// ACT_PHI_TABLE (erf(x / sqrt 2)). PHI reads u as TANH does and combines as SIGMOID does
// (the "cdf" combine: s = 2^16 +- y, result s * 2^-17).
//   QT  quantise: u = min(floor(|x| * 2^16 (tanh, phi) or 2^15 (sigmoid)), 2^19 - 1): the top
//       19 significand bits shifted right by t = 129 (+1 sigmoid) - e, clamped to 0 / 2^19 - 1;
//       u's top bits address the table, {c0, c1} = table[{phi, u >> 9}], a block-RAM ROM whose
//       address register is the RAM's own (its registered read); beside it f = u & 511
//   R   c1 registered again (block-RAM clock-to-out is slow: the multiplier is fed from a
//       register, not from the block RAM), fs = f, or -f for a negative x's sigmoid / phi; the
//       offset o = c0 (tanh), 2^16 +- c0 (sigmoid, phi), as o * 2^9 (+ 511 when subtracting)
//   M   o * 2^9 + c1 * fs (+ 511): one DSP multiply-add into its P register; mag = that >> 9
//       = o +- ((c1 * f) >> 9): tanh |y|, sigmoid / phi s = 2^16 +- y
//   A   the leading-zero count of mag (rill_lzc), from the P register
//   N   integer -> fp32 (exact): normalising shift, exponent, pack: tanh +-y * 2^-16,
//       sigmoid / phi s * 2^-17, +0 when mag = 0; NaN -> 0x7FC00000
// (Until issue 11's second pass the count had its own stage N1: seven stages; until its
// eighth, Q registered u and T read the ROM from that register: six. Feeding the multiplier
// straight from the block RAM instead measured 5 levels but 80 MHz on ECP5 against 134: the
// path is the RAM's clock-to-out plus a multiplier.)
module rill_act
  import rill_pkg::*;
(
  input  logic        clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic        rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [31:0] x_i,
  input  logic        sigmoid_i,  // SIGMOID: u with one fraction bit less, the cdf combine
  input  logic        phi_i,      // PHI: the erf table, the cdf combine (never with sigmoid_i)
  output logic [31:0] y_o,
  output logic [31:0] y_next_o    // y_o one cycle early (N before its register): the forward
);

  localparam int unsigned UW   = ACT_SEG_BITS + ACT_FRAC_BITS;  // 19-bit u
  localparam int unsigned YW   = ACT_C0_BITS + 1;  // 18 bits: sigmoid s up to 2^17
  localparam int unsigned EW   = ACT_C0_BITS + ACT_C1_BITS;  // a table word {c0, c1}
  localparam int unsigned FW   = ACT_FRAC_BITS;  // f
  localparam int unsigned SW   = YW + ACT_FRAC_BITS + 1;  // signed o * 2^9 + c1 * fs
  localparam int unsigned CW   = $clog2(YW);  // leading-zero count
  localparam int unsigned SEGS = 1 << ACT_SEG_BITS;
  localparam int unsigned WORDS = 2 * SEGS;  // {phi, segment}
  // |x| * 2^ACT_IN_FRAC = sig * 2^(e - 150 + ACT_IN_FRAC); u < 2^UW takes sig[23:24-UW]
  // shifted right by t = T_MAX (+1 sigmoid) - e, for t in [0, UW - 1]
  localparam int unsigned T_MAX = 127 + 23 - ACT_IN_FRAC - (24 - UW);  // 129
  localparam int unsigned E_MIN = T_MAX - (UW - 1);  // 111: below, u = 0

  typedef struct packed {
    logic nan;
    logic neg;
    logic cdf;  // SIGMOID or PHI: s = 2^16 +- y, result s * 2^-17
  } flags_t;

  // ---------------------------------------------------------------- QT: quantise, table read
  flags_t        q_flags_d;
  logic [UW-1:0] u_d;

  // The exponent window e_min <= e <= e_max (e_min = E_MIN, e_max = T_MAX, +1 for sigmoid)
  // is split at e[4:0]: the +1 stays inside the low five bits (checked here), so every
  // compare is a function of {sigmoid, e[4:0]} or of e[7:5] alone: LUTs, no carry chain.
  if (E_MIN % 32 == 31 || T_MAX % 32 == 31) begin : gen_window_check
    $error("rill_act: the sigmoid's +1 must not carry out of e[4:0]");
  end

  always_comb begin
    logic [7:0]    e;
    logic [4:0]    t;
    logic          lo_ok, hi_ok, below, above;
    logic [UW-1:0] shifted;
    e = x_i[30:23];
    // tables of the 6 bits {sigmoid, e[4:0]} (one LUT per output bit):
    //   t     = T_MAX (+1) - e mod 32, the shift (exact inside the window)
    //   lo_ok = e[4:0] >= e_min mod 32, hi_ok = e[4:0] <= e_max mod 32
    t     = '0;
    lo_ok = 1'b0;
    hi_ok = 1'b0;
    for (int k = 0; k < 64; k++) begin
      if ({sigmoid_i, e[4:0]} == 6'(k)) begin
        t     = 5'(T_MAX + k / 32 - k % 32);
        lo_ok = k % 32 >= E_MIN % 32 + k / 32;
        hi_ok = k % 32 <= T_MAX % 32 + k / 32;
      end
    end
    below   = (e[7:5] < 3'(E_MIN / 32)) || (e[7:5] == 3'(E_MIN / 32) && !lo_ok);
    above   = (e[7:5] > 3'(T_MAX / 32)) || (e[7:5] == 3'(T_MAX / 32) && !hi_ok);
    shifted = {1'b1, x_i[22:24-UW]} >> t;
    if (below) begin
      u_d = '0;  // |x| * 2^frac < 1, also zero and subnormals (DAZ)
    end else if (above) begin
      u_d = UW'(ACT_U_MAX);  // >= 2^19, also inf (NaN is flagged)
    end else begin
      u_d = shifted;
    end
    q_flags_d.nan     = (e == 8'hFF) && (x_i[22:0] != 23'd0);
    q_flags_d.neg     = x_i[31];
    q_flags_d.cdf     = sigmoid_i || phi_i;
  end

  // The ROM and its read register (rom_q) map onto block RAM (2048 x 27 bits per lane); the
  // quantiser drives its address, which the RAM registers.
  flags_t                   t_flags_q;
  logic [EW-1:0]            rom [WORDS];
  logic [EW-1:0]            rom_d, rom_q;
  logic [FW-1:0]            f_q;  // f = u & 511

  initial begin
    for (int k = 0; k < SEGS; k++) begin
      rom[k]        = ACT_TABLE[k];
      rom[SEGS + k] = ACT_PHI_TABLE[k];
    end
  end

  assign rom_d = rom[{phi_i, u_d[UW-1:ACT_FRAC_BITS]}];

  // ---------------------------------------------------------------- R: the ROM word, the offset
  // The offset o = c0 (tanh) or 2^16 +- c0 (sigmoid, phi), as o * 2^9 (+ 511 when
  // subtracting), is formed here from the ROM's read register, so M's multiply-add has all
  // three operands in registers.
  flags_t                 r_flags_q;
  logic [ACT_C1_BITS-1:0] c1_q;
  logic signed [FW:0]     fs_d, r_fs_q;  // f, or -f for a negative x's sigmoid / phi
  logic signed [SW-1:0]   offw_d, offw_q;  // o * 2^9 (+ 511)

  assign fs_d = (t_flags_q.cdf && t_flags_q.neg) ? -$signed({1'b0, f_q}) : $signed({1'b0, f_q});

  always_comb begin
    logic [YW-1:0]          off;
    logic [ACT_C0_BITS-1:0] c0;
    c0 = rom_q[EW-1:ACT_C1_BITS];
    if (!t_flags_q.cdf) begin
      off = YW'(c0);
    end else if (t_flags_q.neg) begin
      off = YW'(1 << ACT_OUT_FRAC) - YW'(c0);
    end else begin
      off = YW'(1 << ACT_OUT_FRAC) + YW'(c0);
    end
    offw_d = $signed(SW'({off, {ACT_FRAC_BITS{t_flags_q.cdf && t_flags_q.neg}}}));
  end

  // ---------------------------------------------------------------- M: multiply-add
  // With P = c1 * f >= 0: o + (P >> 9) = (o * 2^9 + P) >> 9 and o - (P >> 9) =
  // (o * 2^9 + 511 - P) >> 9, exactly. So mag is one multiply-add, c1 * fs + o * 2^9 (+ 511),
  // then >> 9: on Xilinx a DSP48 with its A (c1_q), B (r_fs_q), C (offw_q) and P (sum_q)
  // registers, no M register. The count after it starts from the P register: from the
  // post-adder's output (an M register before it) ABC, which sees a DSP's outputs at time 0,
  // stretched rill_lzc's tree to 5 LUTs after the adder's 1.5 levels in c1b8.
  flags_t               m_flags_q;
  /* verilator lint_off UNUSEDSIGNAL */
  logic signed [SW-1:0] sum_d, sum_q;  // >= 0: the sign and the 9 bits below mag are unused
  /* verilator lint_on UNUSEDSIGNAL */

  assign sum_d = offw_q + SW'($signed({1'b0, c1_q})) * SW'(r_fs_q);

  // ---------------------------------------------------------------- A: leading zeros
  flags_t               a_flags_d, n_flags_q;
  logic [YW-1:0]        mag;  // sum >> 9: tanh |y|, sigmoid s
  logic [CW-1:0]        lz_d, lz_q;
  logic                 zero_d, zero_q;
  logic [YW-1:0]        n_mag_q;

  always_comb begin
    a_flags_d     = m_flags_q;
    a_flags_d.neg = m_flags_q.neg && !m_flags_q.cdf;  // s is the result, sign folded in
  end

  assign mag = sum_q[ACT_FRAC_BITS +: YW];

  rill_lzc #(
    .WIDTH (YW)
  ) u_lzc (
    .in_i    (mag),
    .cnt_o   (lz_d),
    .empty_o (zero_d)
  );

  // ---------------------------------------------------------------- N: to fp32
  logic [31:0] y_d, y_q;

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [YW-1:0] norm;  // norm[YW-1] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic [7:0]    e;
    norm = n_mag_q << lz_q;  // MSB at bit YW-1
    // value = mag * 2^-16 (tanh) or 2^-17 (sigmoid, phi) = 1.f * 2^(YW - 1 - lz - frac)
    // the exponent as a table of the six bits {cdf, lz} (one LUT per bit): a subtract's carry
    // chain here put the vector forward (y_next_o) at 7.7 levels into the register-file read
    e = 8'd0;
    for (int k = 0; k < (1 << (CW + 1)); k++) begin
      if ({n_flags_q.cdf, lz_q} == (CW + 1)'(k)) begin
        e = 8'(127 + YW - 1 - ACT_OUT_FRAC - (k >> CW) - (k % (1 << CW)));
      end
    end
    if (n_flags_q.nan) begin
      y_d = NAN32;
    end else if (zero_q) begin
      y_d = 32'd0;
    end else begin
      y_d = {n_flags_q.neg, e, norm[YW-2:0], {(23 - (YW - 1)){1'b0}}};
    end
  end

  always_ff @(posedge clk_i) begin
    t_flags_q <= q_flags_d;
    rom_q     <= rom_d;
    f_q       <= u_d[FW-1:0];
    r_flags_q <= t_flags_q;
    c1_q      <= rom_q[ACT_C1_BITS-1:0];
    r_fs_q    <= fs_d;
    offw_q    <= offw_d;
    m_flags_q <= r_flags_q;
    sum_q     <= sum_d;
    n_flags_q <= a_flags_d;
    lz_q      <= lz_d;
    zero_q    <= zero_d;
    n_mag_q   <= mag;
    y_q       <= y_d;
  end

  assign y_o      = y_q;
  assign y_next_o = y_d;

endmodule
