// fp32 multiplier, numerics.fp32_mul (docs/numerics.md): the exact product rounded once to
// nearest even with an unbounded exponent, then FTZ (|r| < 2^-126 -> signed zero) and
// overflow to inf; DAZ on inputs; 0 * inf = NaN; the sign is the xor, also for zeros.
// Three register stages: inputs in cycle c, y_o valid in cycle c+3.
//   M1 24x24 significand product (one DSP cascade), exponent sum, specials
//   M2 normalise (product in [2^46, 2^48)): significand, guard, sticky
//   M3 round, FTZ / overflow / specials
module rill_fp32_mul
  import rill_pkg::*;
(
  input  logic        clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic        rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [31:0] a_i,
  input  logic [31:0] b_i,
  output logic [31:0] y_o
);

  // ---------------------------------------------------------------- M1: product
  typedef struct packed {
    logic        nan;
    logic        inf;
    logic        zero;
    logic        sign;
    logic signed [10:0] exp;  // ea + eb - 127: biased exponent of a product in [1, 2)
    logic [47:0] prod;
  } m1_t;

  m1_t m1_d, m1_q;

  always_comb begin
    logic za, zb, nan_a, nan_b, inf_a, inf_b;
    za    = a_i[30:23] == 8'd0;
    zb    = b_i[30:23] == 8'd0;
    nan_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] != 23'd0);
    nan_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] != 23'd0);
    inf_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] == 23'd0);
    inf_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] == 23'd0);
    m1_d.nan  = nan_a | nan_b | (inf_a & zb) | (inf_b & za);
    m1_d.inf  = inf_a | inf_b;
    m1_d.zero = za | zb;
    m1_d.sign = a_i[31] ^ b_i[31];
    m1_d.exp  = $signed({3'b000, a_i[30:23]}) + $signed({3'b000, b_i[30:23]}) - 11'sd127;
    m1_d.prod = {24'd0, 1'b1, a_i[22:0]} * {24'd0, 1'b1, b_i[22:0]};
  end

  // ---------------------------------------------------------------- M2: normalise
  typedef struct packed {
    logic        nan;
    logic        inf;
    logic        zero;
    logic        sign;
    logic signed [10:0] exp;
    logic [23:0] sig;
    logic        guard;
    logic        sticky;
  } m2_t;

  m2_t m2_d, m2_q;

  always_comb begin
    m2_d.nan  = m1_q.nan;
    m2_d.inf  = m1_q.inf;
    m2_d.zero = m1_q.zero;
    m2_d.sign = m1_q.sign;
    if (m1_q.prod[47]) begin
      m2_d.exp    = m1_q.exp + 11'sd1;
      m2_d.sig    = m1_q.prod[47:24];
      m2_d.guard  = m1_q.prod[23];
      m2_d.sticky = |m1_q.prod[22:0];
    end else begin
      m2_d.exp    = m1_q.exp;
      m2_d.sig    = m1_q.prod[46:23];
      m2_d.guard  = m1_q.prod[22];
      m2_d.sticky = |m1_q.prod[21:0];
    end
  end

  // ---------------------------------------------------------------- M3: round, specials
  logic [31:0] y_d, y_q;

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [24:0] r;  // r[23] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic signed [10:0] e;
    logic        inc;
    inc = m2_q.guard & (m2_q.sticky | m2_q.sig[0]);
    r   = {1'b0, m2_q.sig} + {24'd0, inc};
    e   = r[24] ? m2_q.exp + 11'sd1 : m2_q.exp;  // exponent after rounding (unbounded)
    if (m2_q.nan) begin
      y_d = NAN32;
    end else if (m2_q.inf) begin
      y_d = {m2_q.sign, 8'hFF, 23'd0};
    end else if (m2_q.zero || e <= 11'sd0) begin
      y_d = {m2_q.sign, 31'd0};  // zero operand, or FTZ after rounding
    end else if (e >= 11'sd255) begin
      y_d = {m2_q.sign, 8'hFF, 23'd0};
    end else begin
      y_d = {m2_q.sign, e[7:0], r[24] ? 23'd0 : r[22:0]};
    end
  end

  always_ff @(posedge clk_i) begin
    m1_q <= m1_d;
    m2_q <= m2_d;
    y_q  <= y_d;
  end

  assign y_o = y_q;

endmodule
