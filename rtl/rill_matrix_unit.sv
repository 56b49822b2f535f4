// Matrix unit: B lanes of the block reduction plus the accumulate add (docs/architecture.md).
// Cycle numbers count from the issue cycle 0 (R: register-file and weight-memory read);
// D = rill_pkg::dot_stages(T), T = tree_stages(B):
//   cycle 1            x_i (B fp32 lanes, rounded here to bf16 per numerics.f32_to_bf16_bits,
//                      before the dot rows' S1 registers; see gen_x below),
//                      w_i (B x B bf16; w_i[r][i] = row r, column i; row r feeds output lane r)
//   cycle 1 + D        acc_i (B fp32; -0.0 for a MAC, which passes every value (+-0, inf, NaN)
//                      through unchanged: the core's read port supplies it):
//                      isa.Timing.mac_acc_read + 1; the block sum leaves the dot rows (their
//                      R2 register) in this cycle
//   cycle 1 + D + ADD_STAGES
//                      y_o (B fp32): the add's last register, captured into the bank copies at
//                      the end of this cycle (WB; isa.Timing.mac - 1).
//   cycle D + ADD_STAGES
//                      y_next_o: the same value before that register (the add's R2 logic), for
//                      the core's accumulator forward into a MACC's acc read in this cycle
//                      (isa.Timing.macc_forward).
module rill_matrix_unit
  import rill_pkg::*;
#(
  parameter int unsigned B = 8
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  input  logic [B-1:0][31:0]        x_i,
  input  logic                      x_relu_i,  // the op reads RELU(bf16(x)): S1 zeroes x < 0
  input  logic [B-1:0][B-1:0][15:0] w_i,
  input  logic [B-1:0][31:0]        acc_i,
  output logic [B-1:0][31:0]        y_o,
  output logic [B-1:0][31:0]        y_next_o
);

  // x to bf16 (nearest even on the bit pattern, NaN 0x7FC0), once per column for all rows
  logic [B-1:0][15:0] x_bf16;

  // and, for the dot rows' exponent key, the exponent before rounding and the rounding's
  // carry into it (the carry out of the 23 fraction bits): rill_dot_row's carry-select
  logic [B-1:0][7:0]  x_e;
  logic [B-1:0]       x_rc;
  logic [B-1:0]       x_nan;

  for (genvar i = 0; i < B; i++) begin : gen_x
    /* verilator lint_off UNUSEDSIGNAL */
    logic [23:0] frac_rounded;  // the fraction + 0x7FFF + u[16]: bit 23 is the carry
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_off UNUSEDSIGNAL */
    logic [32:0] rounded;  // (u + 0x7FFF + u[16]) >> 16: the rounded significand
    /* verilator lint_on UNUSEDSIGNAL */
    assign rounded      = {1'b0, x_i[i]} + 33'h7FFF + {32'd0, x_i[i][16]};
    assign frac_rounded = {1'b0, x_i[i][22:0]} + 24'h7FFF + {23'd0, x_i[i][16]};
    // the sign from x itself (rounding never changes it for a number), no NaN select: the
    // rows take a NaN from x_nan and read only the sign and significand of x_bf16
    assign x_bf16[i]    = {x_i[i][31], rounded[30:16]};
    assign x_e[i]       = x_i[i][30:23];
    assign x_rc[i]      = frac_rounded[23];
    assign x_nan[i]     = (x_i[i][30:23] == 8'hFF) && (x_i[i][22:0] != 23'd0);
  end

  for (genvar r = 0; r < B; r++) begin : gen_lane
    rill_mac_row #(.B(B)) u_mac (
      .clk_i,
      .rst_ni,
      .x_i     (x_bf16),
      .x_e_i   (x_e),
      .x_rc_i  (x_rc),
      .x_nan_i (x_nan),
      .x_relu_i,
      .w_i     (w_i[r]),
      .acc_i   (acc_i[r]),
      .y_o     (y_o[r]),
      .y_next_o(y_next_o[r])
    );
  end

endmodule
