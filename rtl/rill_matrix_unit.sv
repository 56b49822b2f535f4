// Matrix unit: B lanes of the block reduction plus the accumulate add (docs/architecture.md).
// Cycle numbers count from the issue cycle 0 (R: register-file and weight-memory read):
//   cycle 1       x_i (B fp32 lanes, rounded here to bf16 per numerics.f32_to_bf16_bits),
//                 w_i (B x B bf16; w_i[r][i] = row r, column i; row r feeds output lane r)
//   cycle 6+2T    acc_i (B fp32) and acc_en_i (MACC); the block sum leaves C2 in this cycle
//   cycle 10+2T   y_o (B fp32): the A4 register, captured into the bank copies at the end of
//                 this cycle (WB). MAC (acc_en_i = 0) adds -0.0, which passes every value
//                 (+-0, inf, NaN) through unchanged.
module rill_matrix_unit
  import rill_pkg::*;
#(
  parameter int unsigned B = 8
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  input  logic [B-1:0][31:0]        x_i,
  input  logic [B-1:0][B-1:0][15:0] w_i,
  input  logic [B-1:0][31:0]        acc_i,
  input  logic                      acc_en_i,
  output logic [B-1:0][31:0]        y_o
);

  // S1: round the fp32 vector operand to bf16 (nearest even on the bit pattern, NaN 0x7FC0)
  logic [B-1:0][15:0] x_bf16;

  always_comb begin
    for (int i = 0; i < B; i++) begin
      logic [32:0] s;
      /* verilator lint_off UNUSEDSIGNAL */
      logic [32:0] rounded;  // the low 16 bits are dropped (>> 16)
      /* verilator lint_on UNUSEDSIGNAL */
      s       = {1'b0, x_i[i]};
      rounded = s + 33'h7FFF + {32'd0, x_i[i][16]};
      if (x_i[i][30:23] == 8'hFF && x_i[i][22:0] != 23'd0) begin
        x_bf16[i] = NAN16;
      end else begin
        x_bf16[i] = rounded[31:16];  // overflow past inf cannot happen for non-NaN inputs
      end
    end
  end

  for (genvar r = 0; r < B; r++) begin : gen_lane
    logic [31:0] dot;

    rill_dot_row #(.B(B)) u_row (
      .clk_i,
      .rst_ni,
      .x_i (x_bf16),
      .w_i (w_i[r]),
      .y_o (dot)
    );

    rill_fp32_add u_acc (
      .clk_i,
      .rst_ni,
      .a_i   (acc_en_i ? acc_i[r] : 32'h8000_0000),
      .b_i   (dot),
      .sub_i (1'b0),
      .y_o   (y_o[r])
    );
  end

endmodule
