// rill input stream: accepts the inference's n_in beats (B bf16 lanes each, lane i in bits
// [16i +: 16]), converts them to fp32 and drives the input bank's (bank 1) write bus from a
// register: beat n, accepted at the edge ending cycle t, is written to idx n of every core at
// the edge ending t+1. Nothing reads it earlier: pc 0 issues at t+1 at the earliest (WAIT), and
// its read in t+1 sees the write through the banks' write-first bypass. A beat accepted in the
// cycle clear_i is taken is not written (the clear zeroes the bank from the next cycle).
// Checks in_last against the beat count.
//
// bf16 -> fp32: append 16 zero bits; subnormals read as signed zero (DAZ), NaN canonical.
`include "rill_assert.svh"

module rill_in_stream
  import rill_pkg::*;
#(
  parameter int unsigned B        = 8,
  parameter int unsigned RF_DEPTH = 64,
  localparam int unsigned IdxW    = idx_bits(RF_DEPTH),
  localparam int unsigned WordW   = B * 32
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // input stream
  input  logic                      in_valid_i,
  output logic                      in_ready_o,
  input  logic [B*16-1:0]           in_data_i,
  input  logic                      in_last_i,
  // from the controller
  input  logic                      enable_i,  // ready for beats (IDLE and not clearing)
  input  logic [CTRL_DATA_BITS-1:0] n_last_i,  // n_in - 1 (rill_ctrl)
  input  logic                      clear_i,   // restart the beat count
  // to the controller
  output logic                      done_o,      // the n_in-th beat is accepted
  output logic                      last_err_o,  // an accepted beat's in_last is wrong
  // input-bank write bus
  output logic                      wr_en_o,
  output logic [IdxW-1:0]           wr_idx_o,
  output logic [WordW-1:0]          wr_data_o
);

  logic [CTRL_DATA_BITS-1:0] cnt_d, cnt_q;
  logic                      accept, is_last;

  always_comb begin
    in_ready_o = enable_i;
    accept     = in_valid_i && in_ready_o;
    is_last    = (cnt_q == n_last_i);
    done_o     = accept && is_last;
    last_err_o = accept && (in_last_i != is_last);

    cnt_d = cnt_q;
    if (accept) begin
      cnt_d = is_last ? '0 : cnt_q + CTRL_DATA_BITS'(1);
    end
    if (clear_i) begin
      cnt_d = '0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cnt_q <= '0;
    end else begin
      cnt_q <= cnt_d;
    end
  end

  logic             wr_en_d, wr_en_q;
  logic [IdxW-1:0]  wr_idx_q;
  logic [WordW-1:0] wr_data_d, wr_data_q;

  always_comb begin
    for (int unsigned i = 0; i < B; i++) begin
      logic [15:0] h;
      h = in_data_i[16*i +: 16];
      if (h[14:7] == 8'd0) begin
        wr_data_d[32*i +: 32] = {h[15], 31'd0};
      end else if (h[14:7] == 8'hFF && h[6:0] != 7'd0) begin
        wr_data_d[32*i +: 32] = NAN32;
      end else begin
        wr_data_d[32*i +: 32] = {h, 16'd0};
      end
    end
    wr_en_d = accept && !clear_i;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      wr_en_q <= 1'b0;
    end else begin
      wr_en_q <= wr_en_d;
    end
  end

  // data and index: not reset
  always_ff @(posedge clk_i) begin
    wr_idx_q  <= cnt_q[IdxW-1:0];
    wr_data_q <= wr_data_d;
  end

  assign wr_en_o   = wr_en_q;
  assign wr_idx_o  = wr_idx_q;
  assign wr_data_o = wr_data_q;

  // ---------------------------------------------------------------------------------------
  // assertions
  `ASSERT_KNOWN(InReadyKnown_A, in_ready_o, clk_i, rst_ni)
  `ASSERT_KNOWN(InBeatKnown_A, accept ? {in_data_i, in_last_i} : '0, clk_i, rst_ni)

endmodule
