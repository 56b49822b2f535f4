// rill output stream: merges the cores' OUT beats (at most one per cycle over all cores; if a
// program breaks that, the lowest core wins and multi_o flags a stream error), tags the
// inference's n_out-th beat with last, and queues the beats in the output FIFO, which drives
// the output stream (data and last stable while valid & !ready). A beat pushed at the edge
// ending cycle t is valid in cycle t+1.
`include "rill_assert.svh"

module rill_out_stream
  import rill_pkg::*;
#(
  parameter int unsigned NUM_CORES      = 1,
  parameter int unsigned B              = 8,
  parameter int unsigned OUT_FIFO_DEPTH = 64,
  localparam int unsigned FifoCntW      = $clog2(OUT_FIFO_DEPTH + 1)
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // the cores' OUT beats
  input  logic [NUM_CORES-1:0]      push_i,
  input  logic [B*16-1:0]           data_i [NUM_CORES],
  // from / to the controller
  input  logic [CTRL_DATA_BITS-1:0] n_last_i,    // n_out - 1 (rill_ctrl)
  input  logic [FifoCntW:0]         room_lim_i,  // OUT_FIFO_DEPTH - n_out, signed, clipped
  input  logic                      clear_i,  // restart the beat count
  output logic                      room_o,   // the FIFO has room for n_out beats
  output logic                      ovf_o,    // a beat was dropped: FIFO full
  output logic                      multi_o,  // two OUTs in one cycle
  // output stream
  output logic                      out_valid_o,
  input  logic                      out_ready_i,
  output logic [B*16-1:0]           out_data_o,
  output logic                      out_last_o
);

  logic [CTRL_DATA_BITS-1:0] cnt_d, cnt_q;
  logic                      push, push_last;
  logic [B*16-1:0]           push_data;
  logic [FifoCntW-1:0]       fifo_cnt;

  always_comb begin
    push      = |push_i;
    multi_o   = $countones(push_i) > 1;
    push_data = '0;
    for (int c = NUM_CORES - 1; c >= 0; c--) begin
      if (push_i[c]) begin
        push_data = data_i[c];
      end
    end
    push_last = (cnt_q == n_last_i);
    room_o    = $signed({1'b0, fifo_cnt}) <= $signed(room_lim_i);

    cnt_d = cnt_q;
    if (push) begin
      cnt_d = push_last ? '0 : cnt_q + CTRL_DATA_BITS'(1);
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

  rill_fifo #(
    .WIDTH(B * 16 + 1),
    .DEPTH(OUT_FIFO_DEPTH)
  ) u_out_fifo (
    .clk_i,
    .rst_ni,
    .wr_valid_i(push),
    .wr_data_i ({push_last, push_data}),
    .rd_valid_o(out_valid_o),
    .rd_ready_i(out_ready_i),
    .rd_data_o ({out_last_o, out_data_o}),
    .count_o   (fifo_cnt),
    .overflow_o(ovf_o)
  );

  // ---------------------------------------------------------------------------------------
  // assertions
  // Program-contract checks (a compiled program never breaks them; the hardware flags them in
  // status_o). Benches that provoke these status errors on purpose run with the plusarg
  // +rill_expect_errors, which switches only these two checks off.
`ifndef SYNTHESIS
  logic contract_chk;
  initial contract_chk = !$test$plusargs("rill_expect_errors");
`endif
  `ASSERT(OneOutPerCycle_A, !contract_chk || $countones(push_i) <= 1, clk_i, rst_ni)
  `ASSERT_NEVER(OutFifoOverflow_A, contract_chk && ovf_o, clk_i, rst_ni)

  // output stream protocol
  // valid held, data and last stable while valid && !ready
  `ASSERT_STABLE(OutStable_A, {out_valid_o, out_data_o, out_last_o}, out_valid_o && !out_ready_i,
                 clk_i, rst_ni)
  `ASSERT_KNOWN(OutValidKnown_A, out_valid_o, clk_i, rst_ni)
  `ASSERT_KNOWN(OutBeatKnown_A, out_valid_o ? {out_data_o, out_last_o} : '0, clk_i, rst_ni)

endmodule
