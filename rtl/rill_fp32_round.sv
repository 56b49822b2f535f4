// fp32 round-and-pack, two register stages (docs/numerics.md; the one rounding of the RTL):
// inputs in cycle c, y_o valid in cycle c+2.
//   R1  nearest-even increment of the 24-bit significand (sig + 1 beside the decision, which
//       selects); exponent + 1; the overflow and underflow compares for both exponents, all
//       on exp_i (the carry out of the increment picks one in R2)
//   R2  select: special value, overflow -> signed inf, FTZ -> signed zero, or the packed number
// The caller gives the biased exponent of sig_i (hidden bit sig_i[23] set) with enough bits to
// hold any value it can produce, guard and sticky below sig_i, and, when special_i is set, the
// finished value (NaN, inf, exact zero, or an exact result that needs no rounding) in
// special_val_i, which passes unchanged.
module rill_fp32_round #(
  parameter int unsigned EXP_W = 10  // signed exponent width
) (
  input  logic                    clk_i,
  input  logic                    sign_i,
  input  logic signed [EXP_W-1:0] exp_i,
  input  logic [23:0]             sig_i,
  input  logic                    guard_i,
  input  logic                    sticky_i,
  input  logic                    special_i,
  input  logic [31:0]             special_val_i,
  output logic [31:0]             y_o,
  // R2's result before its register (y_o one cycle early): the matrix unit's accumulator
  // forward (rill_core, docs/architecture.md "MACC forward")
  output logic [31:0]             y_next_o
);

  // ---------------------------------------------------------------- R1: increment, compares
  typedef struct packed {
    logic        sign;
    logic        special;
    logic [31:0] special_val;
    logic        carry;      // the increment carried out: significand 2^24, exponent + 1
    logic [22:0] frac;
    logic [7:0]  exp0;       // exponent without / with the carry
    logic [7:0]  exp1;
    logic        ovf0, ovf1;  // >= 255
    logic        unf0, unf1;  // <= 0
  } r1_t;

  r1_t r1_d, r1_q;

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [24:0] sig_p1;  // sig_p1[23] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic        inc;
    logic [7:0]  e1;  // the packed exponent bits of exp_i + 1
    // sig + 1 in parallel with the rounding decision, which then only selects: guard and
    // sticky (often the deepest inputs) do not go through the carry chain
`ifdef RILL_BREAK_ROUNDING
    // deliberately broken, for rill.cosim's first-divergence test (cosim/test_divergence.py):
    // a tie (guard set, sticky clear) always rounds the magnitude up, not to even
    inc    = guard_i;
`else
    inc    = guard_i & (sticky_i | sig_i[0]);
`endif
    sig_p1 = {1'b0, sig_i} + 25'd1;
    e1     = exp_i[7:0] + 8'd1;
    r1_d.sign        = sign_i;
    r1_d.special     = special_i;
    r1_d.special_val = special_val_i;
    r1_d.carry       = inc & sig_p1[24];
    r1_d.frac        = inc ? sig_p1[22:0] : sig_i[22:0];  // zero when the increment carried out
    r1_d.exp0        = exp_i[7:0];
    r1_d.exp1        = e1;
    // the compares for exponent + 1 on exp_i itself, in parallel with e1
    r1_d.ovf0        = exp_i >= EXP_W'(255);
    r1_d.ovf1        = exp_i >= EXP_W'(254);
    r1_d.unf0        = exp_i <= EXP_W'(0);
    r1_d.unf1        = exp_i < EXP_W'(0);
  end

  // ---------------------------------------------------------------- R2: select and pack
  logic [31:0] y_d, y_q;

  always_comb begin
    logic ovf, unf;
    ovf = r1_q.carry ? r1_q.ovf1 : r1_q.ovf0;
    unf = r1_q.carry ? r1_q.unf1 : r1_q.unf0;
    if (r1_q.special) begin
      y_d = r1_q.special_val;
    end else if (ovf) begin
      y_d = {r1_q.sign, 8'hFF, 23'd0};
    end else if (unf) begin
      y_d = {r1_q.sign, 31'd0};  // FTZ after rounding
    end else begin
      y_d = {r1_q.sign, r1_q.carry ? r1_q.exp1 : r1_q.exp0, r1_q.frac};
    end
  end

  always_ff @(posedge clk_i) begin
    r1_q <= r1_d;
    y_q  <= y_d;
  end

  assign y_o      = y_q;
  assign y_next_o = y_d;

endmodule
