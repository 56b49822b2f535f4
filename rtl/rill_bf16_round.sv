// fp32 -> bf16, round to nearest even on the bit pattern (numerics.f32_to_bf16_bits),
// NaN -> canonical 0x7FC0 (combinational; the one bf16 rounding of the RTL). Finite values
// that round past the largest bf16 become inf, as the bit-pattern increment gives.
module rill_bf16_round
  import rill_pkg::*;
(
  input  logic [31:0] a_i,
  output logic [15:0] y_o
);

  always_comb begin
    /* verilator lint_off UNUSEDSIGNAL */
    logic [32:0] rounded;  // the low 16 bits are dropped (>> 16); no carry out for non-NaN
    /* verilator lint_on UNUSEDSIGNAL */
    rounded = {1'b0, a_i} + 33'h7FFF + {32'd0, a_i[16]};
    if (a_i[30:23] == 8'hFF && a_i[22:0] != 23'd0) begin
      y_o = NAN16;
    end else begin
      y_o = rounded[31:16];
    end
  end

endmodule
