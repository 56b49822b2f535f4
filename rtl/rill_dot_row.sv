// One row of the matrix unit's block reduction: numerics.block_dot_exact (docs/numerics.md).
// x_i and w_i are B bf16 values (x already rounded to bf16 by the matrix unit); y_o is fp32.
// Pipeline: dot_stages(B) = 5 + T + C registers from input to output, T = tree_stages(B),
// C = cmp_stages(B) (B = 4: 1; 8 to 32: 2; 64, 128: 3), L = log2(B), W = 41 + L (signed sum
// width), MW = W - 1:
//   S1        unpack, DAZ; per lane the key {live, q_i = ex + ew}, the sign and the
//             zero/inf/NaN class. (In rill_matrix_unit the bf16 rounding of x comes before S1:
//             S1 holds two LUT levels and one 9-bit carry chain.)
//   X x T-1   exponent maximum: each stage a tournament over 4 keys (all six pairwise 10-bit
//             compares at once, then a one-hot pick). Beside the first: the 8x8 significand
//             products (DSP, P register), per-lane inf/NaN flags (OR-reduced a stage later),
//             -(q_i + 64) and the negative-lane counts per six lanes.
//   D         the last 0..2 maximum levels (a pick among 1, 2 or 4 keys) fused with the
//             alignment: per lane and candidate c one carry chain c + (-(q_i + 64)), whose
//             low six bits are (E - q_i)[5:0] and whose sign says E - q_i < 64 (else the
//             amount clamps to 63: every bit out); the lane value {M_i, 24'b0}, in ones'
//             complement for a negative lane (the shift fill is then the sign), zero if not
//             live; with a single candidate, two levels of its 4-way right shift, from the
//             low amount bits (out of the chain first).
//   CMP x C   the shift (two 8-way levels), then compression layers down to two rows, as
//             many in each stage as isa.CMP_PLAN says (rill_pkg::cmp_layers_in): per layer
//             6:3 counters (each output bit a function of six input bits: a layer halves the
//             rows, where a 3:2 layer takes them to two thirds), the 1 to 5 rows left over by
//             a 5:3 counter (5), a 3:2 full adder (3 or 4) or as they are
//             (isa.cmp_rows_after). Rows: B lanes {~neg, 40 bits} (lane value + 2^40 -
//             [neg]), the negative-lane counts, 2^(W-1) - 1; they sum to S - 1 (mod 2^W).
//   CPA       S - 1 = A + B and ~S = ~A + ~B, two parallel W-bit carry chains; |S| = ~(S - 1)
//             or ~~S by the sign. Beside the chains, per byte of {|S|, 1} and either sign:
//             its leading zeros and whether it holds a set bit, from the zero counts of the
//             byte's own sums (the four candidates, formed from the rows), picked by the
//             chains' carries into the byte; the trailing zeros tz of S (those of A ^ ~B), as
//             the thermometer tz >= j.
//   NRM       the sign picks the byte counts; the first byte holding a set bit (one-hot) picks, of the
//             per-byte windows |S| << 8k << zeros(k) (the top 25 bits), exponents
//             E + const - 8k - zeros(k) and stickies (tz <= MW - 26 - 8k - zeros(k)), all
//             formed in parallel; specials (NaN, +-inf, an exact zero sum -> +0). (The
//             leading-zero count had its own stage, LZ, until issue 11's sixth pass.)
//   R1, R2    rill_fp32_round: nearest-even increment and compares, then select and pack.
// The ends of the longer delay lines are flip-flops with a reset: synthesis turns a run of
// plain flip-flops into shift-register LUTs, whose clock-to-output is slow.
module rill_dot_row
  import rill_pkg::*;
#(
  parameter int unsigned B = 8
) (
  input  logic                clk_i,
  input  logic                rst_ni,  // only the ends of the delay lines (see there)
  input  logic [B-1:0][15:0]  x_i,
  // x's exponent field before the bf16 rounding, and the rounding's carry into it: the key
  // q = xe + we is a carry-select of (x_e + we) and (x_e + we + 1) by x_rc, so the rounding's
  // carry chain and the key's do not add up on one path (rill_matrix_unit rounds x; for a
  // live lane x_e + x_rc is x_i's exponent). A bench driving bf16 x: x_e = x_i[14:7], x_rc 0.
  input  logic [B-1:0][7:0]   x_e_i,
  input  logic [B-1:0]        x_rc_i,
  // x's NaN lanes, from x before rounding: the lane classes (zero, inf, NaN, live) come from
  // x_e_i, x_rc_i and this, off the rounding's carry chain; x_i gives the sign and the
  // rounded significand (its exponent field is not read). A bench driving bf16 x: x_nan =
  // x_i is a NaN.
  input  logic [B-1:0]        x_nan_i,
  // the op reads RELU(x) (isa.Bundle.m_relu): a negative x lane that is no NaN (-inf and -0
  // included) is a zero lane, as RELU's +0 would be; a NaN stays NaN
  input  logic                x_relu_i,
  input  logic [B-1:0][15:0]  w_i,
  output logic [31:0]         y_o
);
  /*verilator no_inline_module*/

  // ---------------------------------------------------------------- plan (elaboration time)
  localparam int unsigned L   = $clog2(B);         // maximum-tree levels
  localparam int unsigned T   = tree_stages(B);    // X stages + D
  localparam int unsigned W   = 41 + L;            // signed sum width: |S| < B * 2^40
  localparam int unsigned MW  = W - 1;             // |S| width
  localparam int unsigned KW  = 10;                // key {live, q}
  localparam int unsigned NX  = T - 1;             // X stages
  // CMP stages: whatever dot_stages leaves besides S1, X, D, CPA, NRM, R1, R2
  localparam int unsigned NC  = dot_stages(B) - NX - 6;
  // maximum levels: 2 per X stage (4-way tournament), the rest (0..2) fused into D
  localparam int unsigned LVD = L - 2 * NX;
  localparam int unsigned RD  = 1 << LVD;          // keys entering D
  // shift levels (of three 4-way levels) in D: after a lone difference chain two, after a
  // pick among candidates none
  localparam int          NSH_D = (RD == 1) ? 2 : 0;
  localparam int unsigned G   = (B + 5) / 6;       // negative-lane count groups
  localparam int unsigned R0  = B + G + 1;         // rows entering the compression
  localparam int unsigned NL  = layers(R0);        // compression layers down to two rows

  if (NC != cmp_stages(B) || layers_before(NC) != NL) begin : gen_cmp_plan_check
    $error("rill_dot_row: rill_pkg's CMP plan for B = %0d holds %0d layers, %0d needed", B,
           layers_before(NC), NL);
  end

  // biased fp32 exponent of |S| * 2^(E - BLOCK_EXP_OFFSET) with the MSB of |S| at MW-1-lz
  localparam int          EXP_C = 127 - int'(BLOCK_EXP_OFFSET) + int'(MW) - 1;

  // rows out of one compression layer: 6:3 counters, then the rest (isa.cmp_rows_after)
  function automatic int unsigned rows_after(int unsigned r);
    return 3 * (r / 6) + ((r % 6 <= 2) ? r % 6 : (r % 6 == 3) ? 2 : 3);
  endfunction

  function automatic int unsigned rows_at(int unsigned r, int unsigned n);
    int unsigned x;
    x = r;
    for (int unsigned k = 0; k < n; k++) x = rows_after(x);
    return x;
  endfunction

  function automatic int unsigned layers(int unsigned r);
    int unsigned x, n;
    x = r;
    n = 0;
    while (x > 2) begin
      x = rows_after(x);
      n++;
    end
    return n;
  endfunction

  // compression layers in CMP stages 0 .. c-1 (isa.CMP_PLAN)
  function automatic int unsigned layers_before(int unsigned c);
    int unsigned n;
    n = 0;
    for (int unsigned k = 0; k < c; k++) n += cmp_layers_in(B, k);
    return n;
  endfunction

  // maximum levels of X stage t: the first stages take the fewer
  function automatic int unsigned lv_x(int unsigned t);
    int unsigned r;
    r = L - LVD;
    return (r * (t + 1)) / NX - (r * t) / NX;
  endfunction

  // keys entering X stage t (t = NX: entering D)
  function automatic int unsigned keys_in(int unsigned t);
    int unsigned n;
    n = B;
    for (int unsigned k = 0; k < t; k++) n = n >> lv_x(k);
    return n;
  endfunction

  // ---------------------------------------------------------------- helpers (combinational)
  function automatic logic [W-1:0] maj3(logic [W-1:0] a, logic [W-1:0] b, logic [W-1:0] c);
    return (a & b) | (a & c) | (b & c);
  endfunction

  // a 6:3 counter on words: per bit position the count of six bits as three rows (weights 1,
  // 2, 4: the two higher ones shifted up); each output bit is a function of six input bits
  function automatic logic [2:0][W-1:0] cnt63(logic [W-1:0] a0, logic [W-1:0] a1,
                                              logic [W-1:0] a2, logic [W-1:0] a3,
                                              logic [W-1:0] a4, logic [W-1:0] a5);
    logic [W-1:0] s1, k1, s2, k2, t;
    s1 = a0 ^ a1 ^ a2;
    k1 = maj3(a0, a1, a2);
    s2 = a3 ^ a4 ^ a5;
    k2 = maj3(a3, a4, a5);
    t  = s1 & s2;
    return {maj3(k1, k2, t) << 2, (k1 ^ k2 ^ t) << 1, s1 ^ s2};
  endfunction

  // popcount of six bits
  function automatic logic [2:0] pc6(logic [5:0] b);
    logic s1, k1, s2, k2, t;
    s1 = b[0] ^ b[1] ^ b[2];
    k1 = (b[0] & b[1]) | (b[0] & b[2]) | (b[1] & b[2]);
    s2 = b[3] ^ b[4] ^ b[5];
    k2 = (b[3] & b[4]) | (b[3] & b[5]) | (b[4] & b[5]);
    t  = s1 & s2;
    return {(k1 & k2) | (k1 & t) | (k2 & t), k1 ^ k2 ^ t, s1 ^ s2};
  endfunction

  // (e - q - 64) mod 2^11 in one carry chain (B = 4 only, where -(q + 64) is not ready)
  function automatic logic [10:0] dsub(logic [8:0] e, logic [8:0] q);
    logic [10:0] a, b, c, m;
    a = {2'b0, e};
    b = ~{2'b0, q};
    c = 11'd1985;  // -64 - 2047 mod 2^11
    m = {((a[9:0] & b[9:0]) | (a[9:0] & c[9:0]) | (b[9:0] & c[9:0])), 1'b0};
    return (a ^ b ^ c) + m;
  endfunction

  // one 4-way level of a right shift with fill: amt holds the level's two bits in place.
  // An arithmetic shift of {fill, v} fills with the fill bit for any amount up to 63, and
  // its 41 bits keep Verilator in 64-bit words (a wider operand is a multi-word shift call)
  function automatic logic [39:0] shr(logic [39:0] v, logic fill, logic [5:0] amt);
    /* verilator lint_off UNUSEDSIGNAL */
    logic signed [40:0] e;  // bit 40 is the fill
    /* verilator lint_on UNUSEDSIGNAL */
    e = $signed({fill, v}) >>> amt;
    return e[39:0];
  endfunction

  typedef struct packed {
    logic nan;
    logic pinf;
    logic ninf;
  } spec_t;

  typedef struct packed {
    logic       live;  // neither operand zero/subnormal, inf or NaN
    logic [8:0] q;     // exponent sum
  } key_t;

  typedef struct packed {
    logic       neg;
    logic [6:0] mx, mw;
    logic       xz, xinf, xnan, wz, winf, wnan;
  } lane_t;

  // ---------------------------------------------------------------- S1: unpack, keys
  key_t  [B-1:0] s1_key_q;
  lane_t [B-1:0] s1_lane_q;

  typedef struct packed {
    key_t  key;
    lane_t lane;
  } s1_t;

  // one lane: x's exponent before rounding and the rounding's carry, x's NaN flag, x's sign
  // and rounded significand, and w
  function automatic s1_t s1_unpack(logic [7:0] xe, logic x_rc, logic x_nan, logic xs,
                                    logic [6:0] xm, logic [15:0] w, logic relu);
    s1_t        o;
    logic [7:0] we;
    logic [6:0] wm;
    logic       xff, wff, xz, kill;
    we   = w[14:7];
    wm   = w[6:0];
    kill = relu && xs;  // RELU: x < 0 reads as zero (a NaN keeps its class below)
    xff  = ((xe == 8'hFF) || (xe == 8'hFE && x_rc)) && !kill;  // rounded exponent all ones
    xz   = ((xe == 8'd0) && !x_rc) || kill;  // the rounded exponent is zero (DAZ), or RELU
    wff = we == 8'hFF;
    o.key.live  = !xz && !xff && !x_nan && (we != 8'd0) && !wff;
    // q = xe + we as a carry-select on the rounding's carry (x_e_i, x_rc_i above): before
    // it, xe came from the bf16 rounding's carry chain into this 9-bit sum (6.15 levels in
    // rill synth c1b8 once the vector unit grew); earlier still, the
    // form {xe > ~we, xe + we} (a parallel compare, one CARRY4 shorter) let yosys share the
    // two and put three LUTs there (6.4 levels in rill synth c1b8)
    o.key.q     = x_rc ? {1'b0, xe} + {1'b0, we} + 9'd1 : {1'b0, xe} + {1'b0, we};
    o.lane.neg  = xs ^ w[15];
    o.lane.mx   = xm;
    o.lane.mw   = wm;
    o.lane.xz   = xz && !x_nan;  // zero or subnormal (DAZ)
    o.lane.xinf = xff && !x_nan;  // a rounded non-NaN with exponent FF: inf
    o.lane.xnan = x_nan;
    o.lane.wz   = we == 8'd0;
    o.lane.winf = wff && (wm == 7'd0);
    o.lane.wnan = wff && (wm != 7'd0);
    return o;
  endfunction

  // Unpacked for either value of the rounding's carry, which picks last: x_rc_i is the end of
  // the matrix unit's rounding chain, and the mapper, blind to its late arrival, otherwise
  // spreads it through the cone (`keep`; 7 levels in rill synth c1b8 without it)
  (* keep *) s1_t [B-1:0] s1_c0, s1_c1;

  always_comb begin
    for (int i = 0; i < B; i++) begin
      s1_c0[i] = s1_unpack(x_e_i[i], 1'b0, x_nan_i[i], x_i[i][15], x_i[i][6:0], w_i[i],
                           x_relu_i);
      s1_c1[i] = s1_unpack(x_e_i[i], 1'b1, x_nan_i[i], x_i[i][15], x_i[i][6:0], w_i[i],
                           x_relu_i);
    end
  end

  always_ff @(posedge clk_i) begin
    for (int i = 0; i < B; i++) begin
      {s1_key_q[i], s1_lane_q[i]} <= x_rc_i[i] ? s1_c1[i] : s1_c0[i];
    end
  end

  // ---------------------------------------------------------------- beside the X stages
  // from the S1 registers: block specials, negative-lane counts, products, per-lane sign,
  // live and -(q_i + 64); they travel in delay lines to the stage that uses them
  spec_t               sp_d, sp_nrm;
  logic [B-1:0]        spl_d_nan, spl_d_pinf, spl_d_ninf;  // per-lane flags, registered
  logic [B-1:0]        spl_nan_q, spl_pinf_q, spl_ninf_q;  // in X1 (or D)
  logic [G-1:0][2:0]   cnt_d, cnt_cmp;
  logic [B-1:0][16:0]  prod_d;          // 2^16 + M_i: the constant keeps the DSP's post-adder,
  /* verilator lint_off UNUSEDSIGNAL */ // so the register after it packs as PREG
  logic [B-1:0][16:0]  prod_dd;         // bit 16 is that constant
  /* verilator lint_on UNUSEDSIGNAL */
  logic [B-1:0]        neg_s1, live_s1, neg_dd, live_dd;
  logic [B-1:0][10:0]  nq_s1, nq_dd;

  always_comb begin
    logic [B-1:0]   nan_l, inf_l, nl;
    logic [6*G-1:0] nl_pad;
    for (int i = 0; i < B; i++) begin
      lane_t ln;
      ln         = s1_lane_q[i];
      neg_s1[i]  = ln.neg;
      live_s1[i] = s1_key_q[i].live;
      nq_s1[i]   = 11'd1984 - {2'b0, s1_key_q[i].q};  // -(q_i + 64) mod 2^11
      nl[i]      = ln.neg & s1_key_q[i].live;
      // a zero weight's lane contributes nothing, whatever x is (docs/numerics.md)
      nan_l[i]   = (ln.xnan & ~ln.wz) | ln.wnan | (ln.winf & ln.xz);
      inf_l[i]   = ((ln.xinf & ~ln.wz) | ln.winf) & ~nan_l[i];
      prod_d[i]  = 17'h1_0000 + {9'd0, 1'b1, ln.mx} * {9'd0, 1'b1, ln.mw};
    end
    spl_d_nan  = nan_l;
    spl_d_pinf = inf_l & ~neg_s1;
    spl_d_ninf = inf_l & neg_s1;
    nl_pad = (6 * G)'(nl);
    for (int g = 0; g < G; g++) begin
      cnt_d[g] = pc6(nl_pad[6*g +: 6]);
    end
  end

  always_ff @(posedge clk_i) begin
    spl_nan_q  <= spl_d_nan;
    spl_pinf_q <= spl_d_pinf;
    spl_ninf_q <= spl_d_ninf;
  end

  // the block's specials, a stage later
  always_comb begin
    sp_d.pinf = |spl_pinf_q;
    sp_d.ninf = |spl_ninf_q;
    sp_d.nan  = |spl_nan_q | (sp_d.pinf & sp_d.ninf);
  end

  // Delay lines end in a flip-flop with a reset: the synthesis maps a longer run of plain
  // flip-flops to shift-register LUTs, whose clock-to-output is slow.
  spec_t             sp_dly, sp_cpa_q;
  logic [G-1:0][2:0] cnt_dly, cnt_d_q;

  // specials (reduced in the stage after X1): registered there .. the last CMP stage (delay
  // line) and in CPA; read in NRM
  rill_delay #(.WIDTH($bits(spec_t)), .DEPTH(NX + NC)) u_dly_spec (
    .clk_i, .in_i(sp_d), .out_o(sp_dly)
  );

  // negative-lane counts: registered in X1 .. (delay line) and D; read in the first CMP
  rill_delay #(.WIDTH(3 * G), .DEPTH(T - 1)) u_dly_cnt (
    .clk_i, .in_i(cnt_d), .out_o(cnt_dly)
  );

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      sp_cpa_q <= '0;
      cnt_d_q <= '0;
    end else begin
      sp_cpa_q <= sp_dly;
      cnt_d_q <= cnt_dly;
    end
  end
  assign sp_nrm  = sp_cpa_q;
  assign cnt_cmp = cnt_d_q;

  // products: to D (a wire when D is the stage after S1)
  rill_delay #(.WIDTH(17 * B), .DEPTH(T - 1)) u_dly_prod (
    .clk_i, .in_i(prod_d), .out_o(prod_dd)
  );

  rill_delay #(.WIDTH(13 * B), .DEPTH(T - 1)) u_dly_lane (
    .clk_i, .in_i({neg_s1, live_s1, nq_s1}), .out_o({neg_dd, live_dd, nq_dd})
  );

  // ---------------------------------------------------------------- X: maximum tournaments
  for (genvar t = 0; t < NX; t++) begin : gen_x
    localparam int unsigned NI  = keys_in(t);
    localparam int unsigned RAD = 1 << lv_x(t);
    localparam int unsigned NO  = NI / RAD;
    key_t [NI-1:0] k_in;
    key_t [NO-1:0] k_d, k_q;
    if (t == 0) begin : gen_in_first
      assign k_in = s1_key_q;
    end else begin : gen_in_next
      assign k_in = gen_x[t-1].k_q;
    end
    always_comb begin
      for (int g = 0; g < NO; g++) begin
        logic [RAD-1:0] win;
        win = '1;
        for (int j = 0; j < RAD; j++) begin
          for (int k = j + 1; k < RAD; k++) begin
            logic ge;  // ties go to the lower index: exactly one winner
            ge     = k_in[g*RAD+j] >= k_in[g*RAD+k];
            win[j] = win[j] & ge;
            win[k] = win[k] & ~ge;
          end
        end
        k_d[g] = '0;
        for (int j = 0; j < RAD; j++) begin
          k_d[g] = k_d[g] | ({KW{win[j]}} & k_in[g*RAD+j]);
        end
      end
    end
    always_ff @(posedge clk_i) begin
      k_q <= k_d;
    end
  end

  // ---------------------------------------------------------------- D: alignment, shift
  key_t [RD-1:0]       d_keys;
  logic [B-1:0][39:0]  d_val_d, d_val_q;     // lane value after NSH_D shift levels
  logic [B-1:0][5:0]   d_sh_d, d_sh_q;       // clamped shift amount (CMP uses the rest)
  logic [B-1:0]        d_nl_q;              // negative and live: complemented
  logic [8:0]          d_emax_d, d_emax_q;

  if (NX == 0) begin : gen_d_in_s1
    assign d_keys = s1_key_q;
  end else begin : gen_d_in_x
    assign d_keys = gen_x[NX-1].k_q;
  end

  always_comb begin
    logic [RD-1:0] win;
    key_t          emax;
    win = '1;
    for (int j = 0; j < RD; j++) begin
      for (int k = j + 1; k < RD; k++) begin
        logic ge;
        ge     = d_keys[j] >= d_keys[k];
        win[j] = win[j] & ge;
        win[k] = win[k] & ~ge;
      end
    end
    emax = '0;
    for (int j = 0; j < RD; j++) begin
      emax = emax | ({KW{win[j]}} & d_keys[j]);
    end
    d_emax_d = emax.q;
    for (int i = 0; i < B; i++) begin
      logic [6:0]  rs;  // {E - q_i < 64, (E - q_i)[5:0]} of the winning candidate
      logic        nl;
      logic [39:0] v;
      rs = '0;
      for (int j = 0; j < RD; j++) begin
        /* verilator lint_off UNUSEDSIGNAL */
        logic [10:0] r;  // r[9:6]: the exponent difference above the shift range
        /* verilator lint_on UNUSEDSIGNAL */
        if (T == 1) begin
          r = dsub(d_keys[j].q, s1_key_q[i].q);  // D is the stage after S1
        end else begin
          r = {2'b0, d_keys[j].q} + nq_dd[i];
        end
        rs = rs | ({7{win[j]}} & {r[10], r[5:0]});
      end
      // E - q_i >= 64: shift by 63, every bit out (the CMP levels alone shift by >= 48)
      d_sh_d[i] = rs[5:0] | {6{~rs[6]}};
      // lane value (F_ALIGN = 24 fraction bits) {M_i, 24'b0}: ones' complement for a
      // negative lane (the shift fill is then the sign), zero for a lane that is not live;
      // shifted from the low amount bits up (they leave the carry chain first)
      nl = neg_dd[i] & live_dd[i];
      v  = live_dd[i] ? {prod_dd[i][15:0] ^ {16{nl}}, {24{nl}}} : 40'd0;
      for (int s = 0; s < NSH_D; s++) begin
        v = shr(v, nl, rs[5:0] & (6'd3 << (2 * s)));
      end
      d_val_d[i] = v;
    end
  end

  always_ff @(posedge clk_i) begin
    d_val_q  <= d_val_d;
    d_sh_q   <= d_sh_d;
    d_nl_q   <= neg_dd & live_dd;
    d_emax_q <= d_emax_d;
  end

  // ---------------------------------------------------------------- CMP: shift, compression
  logic [R0-1:0][W-1:0] rows0;
  logic signed [9:0]    c_emax_d, c_emax_q;  // E + EXP_C

  always_comb begin
    for (int i = 0; i < B; i++) begin
      logic [39:0] v;
      v = d_val_q[i];
      if (NSH_D == 0) begin
        // the whole shift here: two 8-way levels (an 8:1 select is two LUTs and a MUXF7,
        // 1.25 levels, against three levels of 4-way ones)
        v = shr(v, d_nl_q[i], d_sh_q[i] & 6'o07);
        v = shr(v, d_nl_q[i], d_sh_q[i] & 6'o70);
      end else begin
        for (int s = NSH_D; s < 3; s++) begin
          v = shr(v, d_nl_q[i], d_sh_q[i] & (6'd3 << (2 * s)));
        end
      end
      // row = lane value + 2^40 - [negative]: bit 40 is ~sign, nothing above
      rows0[i] = W'({~d_nl_q[i], v});
    end
    for (int g = 0; g < G; g++) begin
      rows0[B+g] = W'(cnt_cmp[g]);  // the +1 of each complemented lane
    end
    // B * 2^40 = 2^(W-1) is taken back by the constant: the rows sum to S - 1 (mod 2^W)
    rows0[B+G] = {1'b0, {(W - 1){1'b1}}};
    c_emax_d = 10'(d_emax_q) + 10'(EXP_C);
  end

  // CMP stage c: layers layers_before(c) .. layers_before(c + 1) - 1, then a register
  for (genvar c = 0; c < NC; c++) begin : gen_cmp
    localparam int unsigned LA = layers_before(c);
    localparam int unsigned LB = layers_before(c + 1);
    localparam int unsigned RI = rows_at(R0, LA);
    localparam int unsigned RO = rows_at(R0, LB);
    logic [RI-1:0][W-1:0] r_in;
    logic [RO-1:0][W-1:0] r_out, r_q;
    if (c == 0) begin : gen_in_first
      assign r_in = rows0;
    end else begin : gen_in_next
      assign r_in = gen_cmp[c-1].r_q;
    end
    if (LB == LA) begin : gen_none
      assign r_out = r_in;
    end else begin : gen_layers
      for (genvar l = LA; l < LB; l++) begin : gen_layer
        localparam int unsigned LI  = rows_at(R0, l);
        localparam int unsigned LO  = rows_at(R0, l + 1);
        localparam int unsigned NG  = LI / 6;   // 6:3 counters
        localparam int unsigned REM = LI % 6;   // rows left over
        localparam int unsigned RB  = 6 * NG;   // the first of them
        localparam int unsigned YB  = 3 * NG;   // where their outputs go
        logic [LI-1:0][W-1:0] a;
        logic [LO-1:0][W-1:0] y;
        if (l == LA) begin : gen_a_in
          assign a = r_in;
        end else begin : gen_a_prev
          assign a = gen_layer[l-1].y;
        end
        for (genvar g = 0; g < NG; g++) begin : gen_c63
          assign y[3*g +: 3] = cnt63(a[6*g], a[6*g+1], a[6*g+2], a[6*g+3], a[6*g+4], a[6*g+5]);
        end
        if (REM == 5) begin : gen_c53
          assign y[YB +: 3] = cnt63(a[RB], a[RB+1], a[RB+2], a[RB+3], a[RB+4], '0);
        end else if (REM >= 3) begin : gen_fa
          assign y[YB]   = a[RB] ^ a[RB+1] ^ a[RB+2];
          assign y[YB+1] = maj3(a[RB], a[RB+1], a[RB+2]) << 1;
          if (REM == 4) begin : gen_pass1
            assign y[YB+2] = a[RB+3];
          end
        end else if (REM > 0) begin : gen_pass
          assign y[YB +: REM] = a[RB +: REM];
        end
      end
      assign r_out = gen_layer[LB-1].y;
    end
    always_ff @(posedge clk_i) begin
      r_q <= r_out;
    end
  end

  always_ff @(posedge clk_i) begin
    c_emax_q <= c_emax_d;
  end

  logic [1:0][W-1:0] cmp_q;  // the last CMP register: two rows
  assign cmp_q = (2 * W)'(gen_cmp[NC-1].r_q);

  localparam int unsigned NT  = MW - 25;  // the sticky needs trailing zeros in [MW-26:0] only
  localparam int unsigned NBK = (MW + 1 + 7) / 8;
  localparam int unsigned U   = 8 * NBK;
  localparam int unsigned PAD = U - MW - 1;  // zero bits below the guard bit
  localparam int unsigned LB  = 8 - PAD - 1;  // |S| bits in the lowest byte (MW - 8 (NBK-1))

  // E + EXP_C: registered in the first CMP stage, the other CMP stages (delay line); in CPA
  // its low bits and (E + EXP_C - 8k) / 8 are registered for NRM
  logic signed [9:0] c_emax_dly;
  rill_delay #(.WIDTH(10), .DEPTH(NC - 1)) u_dly_emax (
    .clk_i, .in_i(c_emax_q), .out_o(c_emax_dly)
  );

  logic [2:0] c_lo_q;  // E + EXP_C's low three bits, for NRM

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      c_lo_q <= '0;
    end else begin
      c_lo_q <= c_emax_dly[2:0];
    end
  end

  // (E + EXP_C - 8k) / 8 for every byte k and one more, formed in CPA from the delay line's
  // register: NRM's exponent E + EXP_C - 8k - zeros(k) is then {hi[k] or hi[k+1] by the low
  // three bits' borrow, the low three bits}, a table and a pick, no carry chain
  logic signed [NBK:0][6:0] c_hi_d, c_hi_q;

  always_comb begin
    for (int k = 0; k <= NBK; k++) c_hi_d[k] = 7'(c_emax_dly >>> 3) - 7'(k);
  end

  always_ff @(posedge clk_i) begin
    c_hi_q <= c_hi_d;
  end

  // ---------------------------------------------------------------- CPA: |S|, zero counts
  // u = {|S|, 1, 0...}: |S| and a set guard bit below it, padded to NBK bytes. NRM takes
  // lz = 8 * byte + fine[byte], byte the first one holding a set bit (it exists: the guard;
  // |S| = 0 gives lz = MW).
  //
  // The rows A and B (cmp_q) sum to S - 1. |S| = ~(A + B) when S < 0 and S = A + B + 1
  // otherwise, so byte k of |S| is ~v or v of the byte's own sum v = A_k + B_k + c (mod 256),
  // with c the carry into the byte's low bit of A + B (S < 0) or of A + B + 1. The zero counts
  // of the four candidates {v, ~v} x {c = 0, 1} are formed beside the carry chains, from the
  // rows (`keep`: the mapper, blind to a chain's late carries, would otherwise pick candidate
  // bits first and count after the chain), and each chain's carry picks one LUT late; the
  // sign, the end of the longest chain, picks between the two in NRM.
  // The trailing zeros of S = A - ~B are those of A ^ ~B (the lowest bit where A and ~B
  // differ): no carry chain either.
  if (PAD > 7 || LB < 1) begin : gen_byte_check
    $error("rill_dot_row: |S| (%0d bits) and its guard bit leave %0d bits of padding", MW, PAD);
  end

  logic [MW-1:0]       abs_d, abs_q;  // |S|
  logic                neg_d, neg_q;
  // [k]: byte k from the top of |S| if S < 0 (_n) and if S >= 0 (_p): its leading zeros,
  // and whether it holds a set bit
  logic [NBK-1:0][2:0] fine_n_d, fine_n_q, fine_p_d, fine_p_q;
  logic [NBK-1:0]      any_n_d, any_n_q, any_p_d, any_p_q;
  logic [NT-1:0]       t_low;           // ~(A ^ B), low bits: S's trailing zeros are its
  logic [NT:1]         tge_d, tge_q;    // [j]: tz >= j (the low j bits of t_low are zero)
  /* verilator lint_off UNUSEDSIGNAL */
  logic [MW-1:0]       m1;  // S - 1 = A + B (its sign bit is not needed: |S| < 2^(W-1))
  logic [W-1:0]        ns;  // ~S = ~A + ~B
  /* verilator lint_on UNUSEDSIGNAL */

  always_comb begin
    m1    = cmp_q[0][MW-1:0] + cmp_q[1][MW-1:0];
    ns    = ~cmp_q[0] + ~cmp_q[1];  // -(S - 1) - 2 = ~S
    neg_d = ~ns[W-1];
    abs_d = neg_d ? ~m1 : ~ns[MW-1:0];  // -S = ~(S - 1), S = ~~S
    t_low = ~(cmp_q[0][NT-1:0] ^ cmp_q[1][NT-1:0]);
    for (int j = 1; j <= NT; j++) tge_d[j] = ~|(t_low & NT'((64'd1 << j) - 64'd1));
  end

  for (genvar k = 0; k < NBK; k++) begin : gen_byte
    // byte k from the top: |S| bits [HI:LO] (the lowest byte: [HI:0], the guard, the padding)
    localparam int unsigned HI = MW - 1 - 8 * k;
    localparam int unsigned NB = (k == NBK - 1) ? LB : 8;  // |S| bits in it
    localparam int unsigned LO = HI + 1 - NB;
    logic [NB-1:0] ra, rb, v0, v1;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [NB:0]   w1;  // {ra, 1} + {rb, 1} = 2 (ra + rb + 1): v1 on one carry chain
    /* verilator lint_on UNUSEDSIGNAL */
    logic [7:0]    cand [4];  // ~v0, ~v1 (S < 0), v0, v1 (S >= 0), with guard and padding
    (* keep *) logic [3:0][2:0] cnt;
    (* keep *) logic [3:0]      cany;
    logic          cn, cp;  // the carry into bit LO of A + B, of A + B + 1
    assign ra = cmp_q[0][HI:LO];
    assign rb = cmp_q[1][HI:LO];
    assign v0 = ra + rb;
    assign w1 = {ra, 1'b1} + {rb, 1'b1};
    assign v1 = w1[NB:1];
    if (k == NBK - 1) begin : gen_low
      assign cand[0] = 8'({~v0, 1'b1}) << PAD;
      assign cand[1] = 8'({~v1, 1'b1}) << PAD;
      assign cand[2] = 8'({v0, 1'b1}) << PAD;
      assign cand[3] = 8'({v1, 1'b1}) << PAD;
      assign cn = 1'b0;  // A + B has no carry into bit 0; A + B + 1 carries its 1 in
      assign cp = 1'b1;
    end else begin : gen_mid
      assign cand[0] = ~v0;
      assign cand[1] = ~v1;
      assign cand[2] = v0;
      assign cand[3] = v1;
      // a sum bit is the operands' XOR and the carry into it; ~S's bit LO is ~(S's)
      assign cn = m1[LO] ^ ra[0] ^ rb[0];
      assign cp = ~ns[LO] ^ ra[0] ^ rb[0];
    end
    for (genvar j = 0; j < 4; j++) begin : gen_cand
      logic cand_empty;
      rill_lzc #(.WIDTH(8)) u_lzc (.in_i(cand[j]), .cnt_o(cnt[j]), .empty_o(cand_empty));
      assign cany[j] = ~cand_empty;
    end
    assign fine_n_d[k] = cn ? cnt[1] : cnt[0];
    assign any_n_d[k]  = cn ? cany[1] : cany[0];
    assign fine_p_d[k] = cp ? cnt[3] : cnt[2];
    assign any_p_d[k]  = cp ? cany[3] : cany[2];
  end

  always_ff @(posedge clk_i) begin
    abs_q    <= abs_d;
    neg_q    <= neg_d;
    fine_n_q <= fine_n_d;
    any_n_q  <= any_n_d;
    fine_p_q <= fine_p_d;
    any_p_q  <= any_p_d;
    tge_q    <= tge_d;
  end

  // ---------------------------------------------------------------- NRM: normalise
  typedef struct packed {
    logic              neg;
    logic signed [9:0] exp;
    logic [23:0]       sig;
    logic              guard;
    logic              sticky;
    logic              zero;
    spec_t             spec;
  } nrm_t;

  nrm_t nrm_d, nrm_q;

  logic [NBK-1:0][2:0] fine_q;   // [k]: byte k's leading zeros, by the sign
  logic [NBK-1:0]      first;    // [k]: byte k is the first holding a set bit (one-hot)

  // The first byte as a one-hot vector, per sign and then picked by it: an AND-OR of each
  // byte's candidates after it, where a binary byte index (a leading-zero count of the any
  // flags) and a mux on it measured one LUT level deeper (5 after the register, which set the
  // mapper's depth for the whole of c1b8).
  always_comb begin
    logic seen_n, seen_p;
    seen_n = 1'b0;
    seen_p = 1'b0;
    for (int k = 0; k < NBK; k++) begin
      first[k]  = neg_q ? (any_n_q[k] & ~seen_n) : (any_p_q[k] & ~seen_p);
      fine_q[k] = neg_q ? fine_n_q[k] : fine_p_q[k];
      seen_n    = seen_n | any_n_q[k];
      seen_p    = seen_p | any_p_q[k];
    end
  end

  // Per byte k, as if the leading one were in it: the window (|S| << 8k << fine[k]), the
  // exponent E + const - 8k - fine[k] and the sticky (the lowest set bit, tz, at or below
  // MW - 26 - 8k - fine[k]: not tz >= MW - 25 - 8k - fine[k], one bit of the registered
  // thermometer), all in parallel with the byte's pick, which selects one of each.
  logic [NBK-1:0][24:0]       win_k;  // {sig, guard}
  logic [NBK-1:0][9:0]        exp_k;
  logic [NBK-1:0]             stk_k;

  // x - y of three bits with the borrow out at [3], as logic (a subtract would be a carry chain)
  function automatic logic [3:0] sub3(logic [2:0] x, logic [2:0] y);
    logic b0, b1, b2;
    b0 = ~x[0] & y[0];
    b1 = (~x[1] & y[1]) | (~(x[1] ^ y[1]) & b0);
    b2 = (~x[2] & y[2]) | (~(x[2] ^ y[2]) & b1);
    return {b2, x[2] ^ y[2] ^ b1, x[1] ^ y[1] ^ b0, x[0] ^ y[0]};
  endfunction

  always_comb begin
    for (int k = 0; k < NBK; k++) begin
      /* verilator lint_off UNUSEDSIGNAL */
      logic [U-1:0] norm;  // below guard: the sticky comes from the thermometer
      /* verilator lint_on UNUSEDSIGNAL */
      logic [3:0]   lo;    // E + EXP_C's low three bits - zeros(k), the borrow at [3]
      norm     = ((U'(abs_q) << (U - MW)) << (8 * k)) << fine_q[k];
      win_k[k] = norm[U-1 -: 25];
      lo       = sub3(c_lo_q, fine_q[k]);
      exp_k[k] = {lo[3] ? c_hi_q[k+1] : c_hi_q[k], lo[2:0]};
      // tz + f <= C (C = MW - 26 - 8k) iff not tz >= C + 1 - f; C + 1 - f <= NT always
      stk_k[k] = 1'b0;
      for (int f = 0; f < 8; f++) begin
        if (fine_q[k] == 3'(f) && int'(MW) - 25 - 8 * k - f >= 1) begin
          stk_k[k] = ~tge_q[int'(MW) - 25 - 8 * k - f];
        end
      end
    end
  end

  always_comb begin
    logic [24:0] win;
    logic [9:0]  e;
    logic        stk;
    win = '0;
    e   = '0;
    stk = 1'b0;
    for (int k = 0; k < NBK; k++) begin
      win = win | ({25{first[k]}} & win_k[k]);
      e   = e | ({10{first[k]}} & exp_k[k]);
      stk = stk | (first[k] & stk_k[k]);
    end
    nrm_d.neg    = neg_q;
    nrm_d.exp    = e;
    {nrm_d.sig, nrm_d.guard} = win;
    nrm_d.sticky = stk;
    // lz = MW: an exact zero sum (or no live lane) is +0
    nrm_d.zero   = first[NBK-1] && (fine_q[NBK-1] == 3'(LB));
    nrm_d.spec   = sp_nrm;
  end

  always_ff @(posedge clk_i) begin
    nrm_q <= nrm_d;
  end

  // ---------------------------------------------------------------- R1, R2: round
  logic        special;
  logic [31:0] special_val;

  always_comb begin
    special = nrm_q.spec.nan | nrm_q.spec.pinf | nrm_q.spec.ninf | nrm_q.zero;
    if (nrm_q.spec.nan) begin
      special_val = NAN32;
    end else if (nrm_q.spec.pinf) begin
      special_val = 32'h7F80_0000;
    end else if (nrm_q.spec.ninf) begin
      special_val = 32'hFF80_0000;
    end else begin
      special_val = 32'd0;
    end
  end

  /* verilator lint_off UNUSEDSIGNAL */
  // the rounder's early output, unused here: only the adders' results are forwarded (issue 11)
  logic [31:0] y_next_unused;
  /* verilator lint_on UNUSEDSIGNAL */
  rill_fp32_round #(.EXP_W(10)) u_round (
    .clk_i,
    .sign_i        (nrm_q.neg),
    .exp_i         (nrm_q.exp),
    .sig_i         (nrm_q.sig),
    .guard_i       (nrm_q.guard),
    .sticky_i      (nrm_q.sticky),
    .special_i     (special),
    .special_val_i (special_val),
    .y_o,
    .y_next_o      (y_next_unused)
  );

endmodule
