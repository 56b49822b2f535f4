// Activation unit: TANH and SIGMOID, numerics.act_tanh / act_sigmoid (docs/numerics.md).
// Five register stages: inputs in cycle c, y_o valid in cycle c+5.
//   Q  quantise: u = min(floor(|x| * 2^16 (tanh) or 2^15 (sigmoid)), 2^19 - 1)
//   T  table read (registered ROM): {c0, c1} = ACT_TABLE[u >> 9], f = u & 511
//   I1 c1 * f >> 9
//   I2 y = c0 + that; sign; sigmoid: s = 2^16 +- y
//   F  integer -> fp32 (exact): tanh +-y * 2^-16, sigmoid s * 2^-17; NaN -> 0x7FC00000
module rill_act
  import rill_pkg::*;
(
  input  logic        clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic        rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [31:0] x_i,
  input  logic        sigmoid_i,  // 0: TANH, 1: SIGMOID
  output logic [31:0] y_o
);

  localparam int unsigned UW = ACT_SEG_BITS + ACT_FRAC_BITS;  // 19-bit u
  localparam int unsigned YW = ACT_C0_BITS + 1;  // 18 bits: sigmoid s up to 2^17

  typedef struct packed {
    logic nan;
    logic neg;
    logic sigmoid;
  } flags_t;

  // ---------------------------------------------------------------- Q: quantise
  flags_t          q_flags_d, q_flags_q;
  logic [UW-1:0]   u_d, u_q;

  always_comb begin
    logic [7:0]  e;
    logic [23:0] sig;
    logic signed [9:0] sh;  // |x| * 2^frac = sig * 2^sh
    /* verilator lint_off UNUSEDSIGNAL */
    logic [23:0] shifted;  // shifted right by >= 5 here: bits above 2^19 are zero
    /* verilator lint_on UNUSEDSIGNAL */
    e   = x_i[30:23];
    sig = {1'b1, x_i[22:0]};
    sh  = $signed({2'b00, e}) - 10'sd150 + (sigmoid_i ? 10'sd15 : 10'sd16);
    shifted = (sh <= -10'sd24) ? 24'd0 : sig >> 5'(-sh);
    if (e == 8'd0) begin
      u_d = '0;  // DAZ
    end else if (sh >= -10'sd4) begin
      u_d = UW'(ACT_U_MAX);  // >= 2^19 (sig >= 2^23), also inf
    end else begin
      u_d = shifted[UW-1:0];
    end
    q_flags_d.nan     = (e == 8'hFF) && (x_i[22:0] != 23'd0);
    q_flags_d.neg     = x_i[31];
    q_flags_d.sigmoid = sigmoid_i;
  end

  // ---------------------------------------------------------------- T: table read
  flags_t                   t_flags_q;
  logic [ACT_C0_BITS-1:0]   c0_d, c0_q;
  logic [ACT_C1_BITS-1:0]   c1_d, c1_q;
  logic [ACT_FRAC_BITS-1:0] f_q;

  always_comb begin
    logic [ACT_C0_BITS+ACT_C1_BITS-1:0] entry;
    entry = ACT_TABLE[u_q[UW-1:ACT_FRAC_BITS]];
    c0_d  = entry[ACT_C0_BITS+ACT_C1_BITS-1:ACT_C1_BITS];
    c1_d  = entry[ACT_C1_BITS-1:0];
  end

  // ---------------------------------------------------------------- I1: multiply
  flags_t                 i1_flags_q;
  logic [ACT_C0_BITS-1:0] i1_c0_q;
  logic [ACT_C1_BITS-1:0] lin_d, lin_q;  // (c1 * f) >> 9 <= c1 <= 512

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [ACT_C1_BITS+ACT_FRAC_BITS-1:0] p;  // low ACT_FRAC_BITS are truncated (>> 9)
    /* verilator lint_on UNUSEDSIGNAL */
    p     = {{ACT_FRAC_BITS{1'b0}}, c1_q} * {{ACT_C1_BITS{1'b0}}, f_q};
    lin_d = p[ACT_C1_BITS+ACT_FRAC_BITS-1:ACT_FRAC_BITS];
  end

  // ---------------------------------------------------------------- I2: add, sign, offset
  flags_t        i2_flags_d, i2_flags_q;
  logic [YW-1:0] mag_d, mag_q;  // tanh: |y|; sigmoid: s (non-negative)

  always_comb begin
    logic [YW-1:0] y;
    y          = YW'(i1_c0_q) + YW'(lin_q);
    i2_flags_d = i1_flags_q;
    if (i1_flags_q.sigmoid) begin
      mag_d          = i1_flags_q.neg ? YW'(1 << ACT_OUT_FRAC) - y : YW'(1 << ACT_OUT_FRAC) + y;
      i2_flags_d.neg = 1'b0;
    end else begin
      mag_d = y;
    end
  end

  // ---------------------------------------------------------------- F: to fp32
  logic [31:0] y_d, y_q;

  always_comb begin
    logic [4:0]    msb;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [YW-1:0] norm;  // norm[YW-1] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic [7:0]    e;
    msb = 5'd0;
    for (int i = 0; i < YW; i++) begin
      if (mag_q[i]) msb = 5'(i);
    end
    norm = mag_q << (5'(YW - 1) - msb);  // MSB at bit YW-1
    // value = mag * 2^-16 (tanh) or 2^-17 (sigmoid) = 1.f * 2^(msb - frac)
    e = 8'(127 + 32'(msb)) - (i2_flags_q.sigmoid ? 8'(ACT_OUT_FRAC + 1) : 8'(ACT_OUT_FRAC));
    if (i2_flags_q.nan) begin
      y_d = NAN32;
    end else if (mag_q == '0) begin
      y_d = 32'd0;
    end else begin
      y_d = {i2_flags_q.neg, e, norm[YW-2:0], {(23 - (YW - 1)){1'b0}}};
    end
  end

  always_ff @(posedge clk_i) begin
    q_flags_q  <= q_flags_d;
    u_q        <= u_d;
    t_flags_q  <= q_flags_q;
    c0_q       <= c0_d;
    c1_q       <= c1_d;
    f_q        <= u_q[ACT_FRAC_BITS-1:0];
    i1_flags_q <= t_flags_q;
    i1_c0_q    <= c0_q;
    lin_q      <= lin_d;
    i2_flags_q <= i2_flags_d;
    mag_q      <= mag_d;
    y_q        <= y_d;
  end

  assign y_o = y_q;

endmodule
