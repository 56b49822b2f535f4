// One row of the matrix unit's block reduction: numerics.block_dot_exact (docs/numerics.md).
// x_i and w_i are B bf16 values (x already rounded to bf16 by the matrix unit); y_o is fp32.
// Pipeline (docs/architecture.md), 5 + 2T registers from input to output, T = tree_stages(B):
//   S1      unpack, DAZ, exponent sums q_i, per-lane live/sign, specials (NaN, +-inf)
//   X  x T  exponent maximum tree (2 levels per stage); 8x8 significand products in the
//           first X stage, then delayed
//   SH      A_i = (M_i << F_ALIGN) >> (E - q_i), negated for negative products
//   TR x T  exact integer adder tree, 2 levels per stage, 41 + log2(B) bits
//   C1a     |S| (negate), leading-zero count
//   C1b     normalising shift |S| << lz, exponent
//   C2      round to 24 bits (nearest even), exponent, FTZ / overflow / specials
module rill_dot_row
  import rill_pkg::*;
#(
  parameter int unsigned B = 8
) (
  input  logic                clk_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic                rst_ni,  // datapath registers carry no state worth resetting
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [B-1:0][15:0]  x_i,
  input  logic [B-1:0][15:0]  w_i,
  output logic [31:0]         y_o
);
  /*verilator no_inline_module*/

  localparam int unsigned L  = $clog2(B);         // tree levels
  localparam int unsigned T  = tree_stages(B);    // tree pipeline stages
  localparam int unsigned SW = 41 + L;            // signed sum width
  localparam int unsigned MW = SW - 1;            // |S| width

  typedef struct packed {
    logic nan;
    logic pinf;
    logic ninf;
  } spec_t;

  // ---------------------------------------------------------------- S1: unpack
  logic [B-1:0]      s1_live_d, s1_live_q, s1_neg_d, s1_neg_q;
  logic [8:0]        s1_e_d [B];
  logic [8:0]        s1_e_q [B];
  logic [7:0]        s1_mx_d [B];
  logic [7:0]        s1_mx_q [B];
  logic [7:0]        s1_mw_d [B];
  logic [7:0]        s1_mw_q [B];
  spec_t             s1_spec_d, s1_spec_q;

  always_comb begin
    logic [B-1:0] nan_l, inf_l;
    for (int i = 0; i < B; i++) begin
      logic xz, wz, xinf, winf, xnan, wnan;
      xz   = x_i[i][14:7] == 8'd0;  // zero or subnormal (DAZ)
      wz   = w_i[i][14:7] == 8'd0;
      xinf = (x_i[i][14:7] == 8'hFF) && (x_i[i][6:0] == 7'd0);
      winf = (w_i[i][14:7] == 8'hFF) && (w_i[i][6:0] == 7'd0);
      xnan = (x_i[i][14:7] == 8'hFF) && (x_i[i][6:0] != 7'd0);
      wnan = (w_i[i][14:7] == 8'hFF) && (w_i[i][6:0] != 7'd0);
      s1_live_d[i] = !(xz || wz || x_i[i][14:7] == 8'hFF || w_i[i][14:7] == 8'hFF);
      s1_neg_d[i]  = x_i[i][15] ^ w_i[i][15];
      s1_e_d[i]    = s1_live_d[i] ? {1'b0, x_i[i][14:7]} + {1'b0, w_i[i][14:7]} : 9'd0;
      s1_mx_d[i]   = {1'b1, x_i[i][6:0]};
      s1_mw_d[i]   = {1'b1, w_i[i][6:0]};
      nan_l[i]     = xnan | wnan | (xinf & wz) | (winf & xz);
      inf_l[i]     = (xinf | winf) & ~nan_l[i];
    end
    s1_spec_d.pinf = |(inf_l & ~s1_neg_d);
    s1_spec_d.ninf = |(inf_l & s1_neg_d);
    s1_spec_d.nan  = |nan_l | (s1_spec_d.pinf & s1_spec_d.ninf);
  end

  always_ff @(posedge clk_i) begin
    s1_live_q <= s1_live_d;
    s1_neg_q  <= s1_neg_d;
    s1_e_q    <= s1_e_d;
    s1_mx_q   <= s1_mx_d;
    s1_mw_q   <= s1_mw_d;
    s1_spec_q <= s1_spec_d;
  end

  // ---------------------------------------------------------------- X: max tree, products
  // lane data travels alongside the tree: x_*_q[t] is the register at the end of stage t
  logic [15:0]  x_prod_d [T][B];
  logic [15:0]  x_prod_q [T][B];
  logic [8:0]   x_e_d [T][B];
  logic [8:0]   x_e_q [T][B];
  logic [B-1:0] x_live_d [T];
  logic [B-1:0] x_live_q [T];
  logic [B-1:0] x_neg_d [T];
  logic [B-1:0] x_neg_q [T];
  spec_t        x_spec_d [T];
  spec_t        x_spec_q [T];

  always_comb begin
    for (int i = 0; i < B; i++) begin
      x_prod_d[0][i] = {8'd0, s1_mx_q[i]} * {8'd0, s1_mw_q[i]};
    end
    x_e_d[0]    = s1_e_q;
    x_live_d[0] = s1_live_q;
    x_neg_d[0]  = s1_neg_q;
    x_spec_d[0] = s1_spec_q;
    for (int t = 1; t < T; t++) begin
      x_prod_d[t] = x_prod_q[t-1];
      x_e_d[t]    = x_e_q[t-1];
      x_live_d[t] = x_live_q[t-1];
      x_neg_d[t]  = x_neg_q[t-1];
      x_spec_d[t] = x_spec_q[t-1];
    end
  end

  always_ff @(posedge clk_i) begin
    x_prod_q <= x_prod_d;
    x_e_q    <= x_e_d;
    x_live_q <= x_live_d;
    x_neg_q  <= x_neg_d;
    x_spec_q <= x_spec_d;
  end

  for (genvar t = 0; t < T; t++) begin : gen_x
    localparam int unsigned LV = (L - 2 * t >= 2) ? 2 : 1;   // levels in this stage
    localparam int unsigned NI = B >> (2 * t);              // entries in
    localparam int unsigned NO = NI >> LV;                  // entries out
    logic [8:0] e_in [NI];
    logic [8:0] e_d [NO];
    logic [8:0] e_q [NO];
    if (t == 0) begin : gen_in_first
      assign e_in = s1_e_q;
    end else begin : gen_in_next
      assign e_in = gen_x[t-1].e_q;
    end
    if (LV == 2) begin : gen_two
      always_comb begin
        logic [8:0] l1 [NI/2];
        for (int j = 0; j < NI / 2; j++) begin
          l1[j] = (e_in[2*j] > e_in[2*j+1]) ? e_in[2*j] : e_in[2*j+1];
        end
        for (int j = 0; j < NO; j++) begin
          e_d[j] = (l1[2*j] > l1[2*j+1]) ? l1[2*j] : l1[2*j+1];
        end
      end
    end else begin : gen_one
      always_comb begin
        for (int j = 0; j < NO; j++) begin
          e_d[j] = (e_in[2*j] > e_in[2*j+1]) ? e_in[2*j] : e_in[2*j+1];
        end
      end
    end
    always_ff @(posedge clk_i) begin
      e_q <= e_d;
    end
  end

  // ---------------------------------------------------------------- SH: align, sign
  logic signed [SW-1:0] sh_a_d [B];
  logic signed [SW-1:0] sh_a_q [B];
  logic [8:0]           sh_emax_q;
  spec_t                sh_spec_q;

  always_comb begin
    logic [8:0] emax;
    emax = gen_x[T-1].e_q[0];
    for (int i = 0; i < B; i++) begin
      logic [8:0]  d;
      logic [39:0] mag;
      d   = emax - x_e_q[T-1][i];
      mag = {x_prod_q[T-1][i], 24'd0} >> d;  // F_ALIGN = 24 fraction bits, truncated
      if (!x_live_q[T-1][i]) begin
        sh_a_d[i] = '0;
      end else if (x_neg_q[T-1][i]) begin
        sh_a_d[i] = -$signed({{(SW - 40){1'b0}}, mag});
      end else begin
        sh_a_d[i] = $signed({{(SW - 40){1'b0}}, mag});
      end
    end
  end

  always_ff @(posedge clk_i) begin
    sh_a_q    <= sh_a_d;
    sh_emax_q <= gen_x[T-1].e_q[0];
    sh_spec_q <= x_spec_q[T-1];
  end

  // ---------------------------------------------------------------- TR: adder tree
  logic [8:0] tr_emax_d [T];
  logic [8:0] tr_emax_q [T];
  spec_t      tr_spec_d [T];
  spec_t      tr_spec_q [T];

  always_comb begin
    tr_emax_d[0] = sh_emax_q;
    tr_spec_d[0] = sh_spec_q;
    for (int t = 1; t < T; t++) begin
      tr_emax_d[t] = tr_emax_q[t-1];
      tr_spec_d[t] = tr_spec_q[t-1];
    end
  end

  always_ff @(posedge clk_i) begin
    tr_emax_q <= tr_emax_d;
    tr_spec_q <= tr_spec_d;
  end

  for (genvar t = 0; t < T; t++) begin : gen_tr
    localparam int unsigned LV = (L - 2 * t >= 2) ? 2 : 1;
    localparam int unsigned NI = B >> (2 * t);
    localparam int unsigned NO = NI >> LV;
    logic signed [SW-1:0] s_in [NI];
    logic signed [SW-1:0] s_d [NO];
    logic signed [SW-1:0] s_q [NO];
    if (t == 0) begin : gen_in_first
      assign s_in = sh_a_q;
    end else begin : gen_in_next
      assign s_in = gen_tr[t-1].s_q;
    end
    if (LV == 2) begin : gen_two
      always_comb begin
        logic signed [SW-1:0] l1 [NI/2];
        for (int j = 0; j < NI / 2; j++) begin
          l1[j] = s_in[2*j] + s_in[2*j+1];
        end
        for (int j = 0; j < NO; j++) begin
          s_d[j] = l1[2*j] + l1[2*j+1];
        end
      end
    end else begin : gen_one
      always_comb begin
        for (int j = 0; j < NO; j++) begin
          s_d[j] = s_in[2*j] + s_in[2*j+1];
        end
      end
    end
    always_ff @(posedge clk_i) begin
      s_q <= s_d;
    end
  end

  // ---------------------------------------------------------------- C1a: |S|, leading zeros
  logic              c1a_neg_d, c1a_neg_q, c1a_zero_d, c1a_zero_q;
  logic [MW-1:0]     c1a_mag_d, c1a_mag_q;
  logic [6:0]        c1a_lz_d, c1a_lz_q;
  logic [8:0]        c1a_emax_q;
  spec_t             c1a_spec_q;

  always_comb begin
    logic signed [SW-1:0] s;
    s         = gen_tr[T-1].s_q[0];
    c1a_mag_d = s[SW-1] ? MW'(-s) : MW'(s);  // |S| < 2^(SW-1)
    c1a_lz_d  = 7'd0;
    for (int i = 0; i < MW; i++) begin
      if (c1a_mag_d[i]) c1a_lz_d = 7'(MW - 1 - i);
    end
    c1a_neg_d  = s[SW-1];
    c1a_zero_d = c1a_mag_d == '0;
  end

  always_ff @(posedge clk_i) begin
    c1a_neg_q  <= c1a_neg_d;
    c1a_zero_q <= c1a_zero_d;
    c1a_mag_q  <= c1a_mag_d;
    c1a_lz_q   <= c1a_lz_d;
    c1a_emax_q <= tr_emax_q[T-1];
    c1a_spec_q <= tr_spec_q[T-1];
  end

  // ---------------------------------------------------------------- C1b: normalise, exponent
  logic              c1_neg_q, c1_zero_q;
  logic [MW-1:0]     c1_norm_d, c1_norm_q;
  logic signed [11:0] c1_exp_d, c1_exp_q;  // biased fp32 exponent before rounding
  spec_t             c1_spec_q;

  always_comb begin
    c1_norm_d = c1a_mag_q << c1a_lz_q;
    // value = S * 2^(E - BLOCK_EXP_OFFSET); the MSB of |S| is bit MW-1-lz
    c1_exp_d  = 12'sd127 - 12'(BLOCK_EXP_OFFSET) + 12'(MW - 1) - $signed({5'd0, c1a_lz_q})
              + $signed({3'd0, c1a_emax_q});
  end

  always_ff @(posedge clk_i) begin
    c1_neg_q  <= c1a_neg_q;
    c1_zero_q <= c1a_zero_q;
    c1_norm_q <= c1_norm_d;
    c1_exp_q  <= c1_exp_d;
    c1_spec_q <= c1a_spec_q;
  end

  // ---------------------------------------------------------------- C2: round, specials
  logic [31:0] y_d, y_q;

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [24:0] r;  // r[23] is the hidden bit, implied by the encoding
    /* verilator lint_on UNUSEDSIGNAL */
    logic signed [11:0] e;
    logic inc;
    inc = c1_norm_q[MW-25] & ((|c1_norm_q[MW-26:0]) | c1_norm_q[MW-24]);
    r   = {1'b0, c1_norm_q[MW-1 -: 24]} + {24'd0, inc};
    e   = r[24] ? c1_exp_q + 12'sd1 : c1_exp_q;
    if (c1_spec_q.nan) begin
      y_d = NAN32;
    end else if (c1_spec_q.pinf) begin
      y_d = 32'h7F80_0000;
    end else if (c1_spec_q.ninf) begin
      y_d = 32'hFF80_0000;
    end else if (c1_zero_q) begin
      y_d = 32'd0;  // an exact zero sum (or no live lane) is +0
    end else if (e >= 12'sd255) begin
      y_d = {c1_neg_q, 8'hFF, 23'd0};
    end else if (e <= 12'sd0) begin
      y_d = {c1_neg_q, 31'd0};  // FTZ after rounding
    end else begin
      y_d = {c1_neg_q, e[7:0], r[24] ? 23'd0 : r[22:0]};
    end
  end

  always_ff @(posedge clk_i) begin
    y_q <= y_d;
  end

  assign y_o = y_q;

endmodule
