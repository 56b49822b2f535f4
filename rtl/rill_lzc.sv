// Leading-zero counter (combinational): cnt_o = number of zeros above the highest set bit of
// in_i; empty_o when in_i is zero (cnt_o is then all ones). A binary tree in the manner of
// common_cells' lzc: each node keeps "any bit set" and the count within its half, so the depth
// grows with log2(WIDTH) (4 LUT levels at 48 bits, docs/architecture.md) instead of a priority
// chain. The one leading-zero counter of the RTL: every normalisation uses it.
module rill_lzc #(
  parameter int unsigned WIDTH = 32,
  localparam int unsigned CNT_W = (WIDTH > 1) ? $clog2(WIDTH) : 1
) (
  input  logic [WIDTH-1:0] in_i,
  output logic [CNT_W-1:0] cnt_o,
  output logic             empty_o
);

  localparam int unsigned N = 1 << CNT_W;  // leaves, WIDTH rounded up to a power of two

  // node k of level l covers N >> l bits; level CNT_W is the leaves. any[l][k], cnt[l][k]
  // (the count has CNT_W - l bits, kept in CNT_W-bit vectors)
  logic             any_n [CNT_W+1][N];
  logic [CNT_W-1:0] cnt_n [CNT_W+1][N];

  always_comb begin
    for (int k = 0; k < N; k++) begin
      // leaf k is bit WIDTH-1-k of the input (MSB first); padding leaves are zero
      any_n[CNT_W][k] = (k < WIDTH) ? in_i[WIDTH-1-k] : 1'b0;
      cnt_n[CNT_W][k] = '0;
    end
    for (int l = CNT_W - 1; l >= 0; l--) begin
      for (int k = 0; k < N; k++) begin
        if (k < (1 << l)) begin
          any_n[l][k] = any_n[l+1][2*k] | any_n[l+1][2*k+1];
          // the upper (first) half wins; otherwise count its bits and go on in the lower half
          cnt_n[l][k] = any_n[l+1][2*k] ? cnt_n[l+1][2*k]
                                        : cnt_n[l+1][2*k+1] | CNT_W'(1 << (CNT_W - 1 - l));
        end else begin
          any_n[l][k] = 1'b0;
          cnt_n[l][k] = '0;
        end
      end
    end
    empty_o = ~any_n[0][0];
    cnt_o   = empty_o ? '1 : cnt_n[0][0];
  end

endmodule
