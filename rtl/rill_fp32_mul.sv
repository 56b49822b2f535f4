// fp32 multiplier, numerics.fp32_mul (docs/numerics.md): the exact product rounded once to
// nearest even with an unbounded exponent, then FTZ (|r| < 2^-126 -> signed zero) and
// overflow to inf; DAZ on inputs; 0 * inf = NaN; the sign is the xor, also for zeros.
// Three register stages (rill_pkg::MUL_STAGES): inputs in cycle c, y_o valid in cycle c+3.
//   M1 24x24 significand product (a DSP cascade, registered in the DSP), exponent sum and
//      sum + 1, specials (the finished value)
//   R1, R2 round and pack (rill_fp32_round), fed directly by the normalisation (product in
//      [2^46, 2^48): significand, guard, exponent picked by the product's top bit, sticky an
//      OR of the bits below), two LUT levels in front of R1
module rill_fp32_mul
  import rill_pkg::*;
(
  input  logic        clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic        rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [31:0] a_i,
  input  logic [31:0] b_i,
  output logic [31:0] y_o,
  output logic [31:0] y_next_o  // y_o one cycle early (R2 before its register): the forward
);

  // M1, then the two of rill_fp32_round
  localparam int unsigned Stages = 1 + 2;

  if (Stages != MUL_STAGES) begin : gen_stages_check
    $error("rill_fp32_mul: %0d register stages, rill_pkg::MUL_STAGES = %0d", Stages,
           MUL_STAGES);
  end

  // ---------------------------------------------------------------- M1: product
  typedef struct packed {
    logic        special;      // NaN, inf or a zero operand:
    logic [31:0] special_val;  // the finished result
    logic        sign;
    // ea + eb - 127 (+ 1): biased exponent of the product in [1, 2) ([2, 4)); 10 bits hold
    // [-125, 382] and the rounding carry
    logic signed [9:0] exp;
    logic signed [9:0] exp_p1;
    logic [47:0] prod;
  } m1_t;

  m1_t m1_d, m1_q;

  always_comb begin
    logic za, zb, nan_a, nan_b, inf_a, inf_b, nan, inf;
    za    = a_i[30:23] == 8'd0;
    zb    = b_i[30:23] == 8'd0;
    nan_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] != 23'd0);
    nan_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] != 23'd0);
    inf_a = (a_i[30:23] == 8'hFF) && (a_i[22:0] == 23'd0);
    inf_b = (b_i[30:23] == 8'hFF) && (b_i[22:0] == 23'd0);
    nan   = nan_a | nan_b | (inf_a & zb) | (inf_b & za);
    inf   = inf_a | inf_b;
    m1_d.sign    = a_i[31] ^ b_i[31];
    m1_d.special = nan | inf | za | zb;
    if (nan) begin
      m1_d.special_val = NAN32;
    end else if (inf) begin
      m1_d.special_val = {m1_d.sign, 8'hFF, 23'd0};
    end else begin
      m1_d.special_val = {m1_d.sign, 31'd0};  // a zero operand (DAZ)
    end
    // both exponents in parallel: the product's top bit picks one after the DSP
    m1_d.exp    = $signed({2'b00, a_i[30:23]}) + $signed({2'b00, b_i[30:23]}) - 10'sd127;
    m1_d.exp_p1 = $signed({2'b00, a_i[30:23]}) + $signed({2'b00, b_i[30:23]}) - 10'sd126;
    // hidden bits 1: a zero operand is special
    m1_d.prod   = {24'd0, 1'b1, a_i[22:0]} * {24'd0, 1'b1, b_i[22:0]};
  end

  always_ff @(posedge clk_i) begin
    m1_q <= m1_d;
  end

  // ---------------------------------------------------------------- normalise into R1
  logic signed [9:0] norm_exp;
  logic [23:0]       norm_sig;
  logic              norm_guard, norm_sticky;

  always_comb begin
    if (m1_q.prod[47]) begin
      norm_exp    = m1_q.exp_p1;
      norm_sig    = m1_q.prod[47:24];
      norm_guard  = m1_q.prod[23];
      norm_sticky = |m1_q.prod[22:0];
    end else begin
      norm_exp    = m1_q.exp;
      norm_sig    = m1_q.prod[46:23];
      norm_guard  = m1_q.prod[22];
      norm_sticky = |m1_q.prod[21:0];
    end
  end

  // ---------------------------------------------------------------- R1, R2: round, pack
  rill_fp32_round #(
    .EXP_W(10)
  ) u_round (
    .clk_i,
    .sign_i       (m1_q.sign),
    .exp_i        (norm_exp),
    .sig_i        (norm_sig),
    .guard_i      (norm_guard),
    .sticky_i     (norm_sticky),
    .special_i    (m1_q.special),
    .special_val_i(m1_q.special_val),
    .y_o,
    .y_next_o
  );

endmodule
