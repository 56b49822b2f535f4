// Matrix unit: B lanes of the block reduction plus the accumulate add (docs/architecture.md).
// Cycle numbers count from the issue cycle 0 (R: register-file and weight-memory read);
// D = rill_pkg::dot_stages(T), T = tree_stages(B):
//   cycle 1            x_i (B fp32 lanes, rounded here to bf16 per numerics.f32_to_bf16_bits,
//                      rill_bf16_round, before the dot rows' S1 registers),
//                      w_i (B x B bf16; w_i[r][i] = row r, column i; row r feeds output lane r)
//   cycle 1 + D        acc_i (B fp32; -0.0 for a MAC, which passes every value (+-0, inf, NaN)
//                      through unchanged: the core's read port supplies it):
//                      isa.Timing.mac_acc_read + 1; the block sum leaves the dot rows (their
//                      R2 register) in this cycle
//   cycle 1 + D + ADD_STAGES
//                      y_o (B fp32): the add's last register, captured into the bank copies at
//                      the end of this cycle (WB; isa.Timing.mac - 1).
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
  output logic [B-1:0][31:0]        y_o
);

  // x to bf16 (nearest even on the bit pattern, NaN 0x7FC0), once per column for all rows
  logic [B-1:0][15:0] x_bf16;

  for (genvar i = 0; i < B; i++) begin : gen_x
    rill_bf16_round u_round (
      .a_i (x_i[i]),
      .y_o (x_bf16[i])
    );
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
      .a_i   (acc_i[r]),
      .b_i   (dot),
      .sub_i (1'b0),
      .y_o   (y_o[r])
    );
  end

endmodule
