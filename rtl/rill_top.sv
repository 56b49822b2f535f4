// rill accelerator top: NUM_CORES lockstep cores, broadcast register-file write buses, the
// control FSM, input/output streams, load port and clear (docs/isa.md, docs/architecture.md).
//
// Control FSM (docs/isa.md "One inference"):
//   IDLE  in_ready = 1; beat n is written to bank 1, idx n, of every core at its accept edge.
//         The n_in-th beat (which must carry in_last) moves to WAIT.
//   WAIT  the cycle after the last beat: if the output FIFO has room for n_out beats, pc 0
//         issues in this very cycle (and the FSM moves to RUN / IDLE), else it waits.
//   RUN   pc 1 .. P-1 issue, one per cycle; after pc P-1, back to IDLE.
//   HALT  an illegal bundle was issued: nothing issues until clear_i or reset.
// The bundle register in each core holds imem[pc] in the cycle pc issues, because the
// instruction memories are addressed with the next cycle's pc (0 outside RUN).
//
// Load port (one word per cycle, load_valid_i):
//   sel 0  imem of core load_core_i,  addr = bundle index, data[BundleW-1:0] = bundle
//   sel 1  wmem of core load_core_i,  addr = block*B + row, data[B*16-1:0] = row (col j at 16j)
//   sel 2  constant bank (bank 0) of every core, addr = idx, data[B*32-1:0] (lane i at 32i)
//   sel 3  control registers: addr 0 P, 1 n_in, 2 n_out (data[31:0])
// clear_i (a pulse, taken when not already clearing) zeroes banks 1.. of every core over
// RF_DEPTH cycles (status CLEARING), resets the FSM to IDLE and the stream counters, and
// clears the sticky error bits. Inputs are not accepted while clearing.
//
// status_o: [0] illegal (sticky) [1] stream error (sticky: [6] | [7] | two OUTs in one cycle)
//           [2] busy (not IDLE, or clearing) [3] idle [4] clearing [5] halted
//           [6] in_last mismatch (sticky) [7] output FIFO overflow (sticky)
module rill_top #(
  parameter int unsigned NUM_CORES      = 1,
  parameter int unsigned B              = 8,
  parameter int unsigned WEIGHT_DEPTH   = 256,
  parameter int unsigned RF_DEPTH       = 64,
  parameter int unsigned INSTR_DEPTH    = 1024,
  parameter int unsigned OUT_FIFO_DEPTH = 64,
  localparam int unsigned NumBanks      = rill_pkg::num_banks(NUM_CORES),
  localparam int unsigned BankW         = rill_pkg::bank_bits(NUM_CORES),
  localparam int unsigned IdxW          = rill_pkg::idx_bits(RF_DEPTH),
  localparam int unsigned AddrW         = BankW + IdxW,
  localparam int unsigned WAddrW        = rill_pkg::waddr_bits(WEIGHT_DEPTH),
  localparam int unsigned LWAddrW       = WAddrW + $clog2(B),
  localparam int unsigned PcW           = $clog2(INSTR_DEPTH),
  localparam int unsigned BundleW       = rill_pkg::M_OP_BITS + WAddrW + 4 * AddrW + 2 * IdxW
                                          + rill_pkg::V_OP_BITS,
  localparam int unsigned WordW         = B * 32,
  localparam int unsigned LoadW         = (WordW > BundleW) ? WordW : BundleW,
  localparam int unsigned CoreW         = (NUM_CORES > 1) ? $clog2(NUM_CORES) : 1,
  localparam int unsigned FifoCntW      = $clog2(OUT_FIFO_DEPTH + 1)
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  // input stream: B bf16 lanes per beat, lane i in bits [16i +: 16]
  input  logic               in_valid_i,
  output logic               in_ready_o,
  input  logic [B*16-1:0]    in_data_i,
  input  logic               in_last_i,
  // output stream (data and last stable while valid & !ready)
  output logic               out_valid_o,
  input  logic               out_ready_i,
  output logic [B*16-1:0]    out_data_o,
  output logic               out_last_o,
  // load port
  input  logic               load_valid_i,
  input  logic [1:0]         load_sel_i,
  input  logic [CoreW-1:0]   load_core_i,
  // only the low bits the addressed memory needs are used; 32 bits keeps the port config-free
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic [31:0]        load_addr_i,
  /* verilator lint_on UNUSEDSIGNAL */
  input  logic [LoadW-1:0]   load_data_i,
  // control / status
  input  logic               clear_i,
  output logic [7:0]         status_o
);
  import rill_pkg::*;

  typedef enum logic [1:0] {
    StIdle = 2'd0,
    StWait = 2'd1,
    StRun  = 2'd2,
    StHalt = 2'd3
  } state_e;

  // ---------------------------------------------------------------------------------------
  // control registers (load port sel 3)
  logic [31:0] prog_len_d, prog_len_q, n_in_d, n_in_q, n_out_d, n_out_q;
  logic        ld_imem, ld_wmem, ld_const, ld_ctrl;

  always_comb begin
    ld_imem  = load_valid_i && (load_sel_i == 2'd0);
    ld_wmem  = load_valid_i && (load_sel_i == 2'd1);
    ld_const = load_valid_i && (load_sel_i == 2'd2);
    ld_ctrl  = load_valid_i && (load_sel_i == 2'd3);
    prog_len_d = prog_len_q;
    n_in_d     = n_in_q;
    n_out_d    = n_out_q;
    if (ld_ctrl) begin
      unique case (load_addr_i[1:0])
        2'd0:    prog_len_d = load_data_i[31:0];
        2'd1:    n_in_d     = load_data_i[31:0];
        2'd2:    n_out_d    = load_data_i[31:0];
        default: ;
      endcase
    end
  end

  // ---------------------------------------------------------------------------------------
  // control FSM, clear sequencer, stream counters, status
  state_e          state_d, state_q;
  logic [PcW-1:0]  pc_d, pc_q;
  logic [31:0]     in_cnt_d, in_cnt_q, out_cnt_d, out_cnt_q;
  logic            clr_act_d, clr_act_q;
  logic [IdxW-1:0] clr_idx_d, clr_idx_q;
  logic            err_ill_d, err_ill_q, err_last_d, err_last_q, err_ovf_d, err_ovf_q;
  logic            err_out2_d, err_out2_q;

  logic               in_accept, in_is_last, issue, room, any_illegal, last_pc;
  logic [NUM_CORES-1:0] core_illegal, core_push;
  logic [B*16-1:0]    core_out [NUM_CORES];
  logic               push, push_last, fifo_ovf;
  logic [B*16-1:0]    push_data;
  logic [FifoCntW-1:0] fifo_cnt;

  // issue decision (separate block: the cores' illegal_o depends on it, the next state on both)
  always_comb begin
    room        = (32'(OUT_FIFO_DEPTH) - 32'(fifo_cnt)) >= n_out_q;
    in_ready_o  = (state_q == StIdle) && !clr_act_q;
    in_accept   = in_valid_i && in_ready_o;
    in_is_last  = (in_cnt_q == n_in_q - 32'd1);
    issue       = !clr_act_q && (state_q == StRun || (state_q == StWait && room));
    last_pc     = (32'(pc_q) == prog_len_q - 32'd1);
  end

  always_comb begin
    any_illegal = |core_illegal;

    state_d    = state_q;
    pc_d       = '0;
    in_cnt_d   = in_cnt_q;
    out_cnt_d  = out_cnt_q;
    clr_act_d  = clr_act_q;
    clr_idx_d  = clr_idx_q;
    err_ill_d  = err_ill_q || any_illegal;
    err_last_d = err_last_q || (in_accept && (in_last_i != in_is_last));
    err_ovf_d  = err_ovf_q || fifo_ovf;
    err_out2_d = err_out2_q || ($countones(core_push) > 1);

    if (in_accept) begin
      if (in_is_last) begin
        in_cnt_d = '0;
        state_d  = StWait;
      end else begin
        in_cnt_d = in_cnt_q + 32'd1;
      end
    end
    if (issue) begin
      if (any_illegal) begin
        state_d = StHalt;
      end else if (last_pc) begin
        state_d = StIdle;
      end else begin
        state_d = StRun;
        pc_d    = pc_q + PcW'(1);
      end
    end
    if (push) begin
      out_cnt_d = push_last ? '0 : out_cnt_q + 32'd1;
    end

    if (clr_act_q) begin
      clr_idx_d = clr_idx_q + IdxW'(1);
      if (32'(clr_idx_q) == RF_DEPTH - 1) begin
        clr_act_d = 1'b0;
      end
    end
    if (clear_i && !clr_act_q) begin
      clr_act_d  = 1'b1;
      clr_idx_d  = '0;
      state_d    = StIdle;
      pc_d       = '0;
      in_cnt_d   = '0;
      out_cnt_d  = '0;
      err_ill_d  = 1'b0;
      err_last_d = 1'b0;
      err_ovf_d  = 1'b0;
      err_out2_d = 1'b0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      state_q    <= StIdle;
      pc_q       <= '0;
      in_cnt_q   <= '0;
      out_cnt_q  <= '0;
      clr_act_q  <= 1'b0;
      clr_idx_q  <= '0;
      err_ill_q  <= 1'b0;
      err_last_q <= 1'b0;
      err_ovf_q  <= 1'b0;
      err_out2_q <= 1'b0;
      prog_len_q <= '0;
      n_in_q     <= '0;
      n_out_q    <= '0;
    end else begin
      state_q    <= state_d;
      pc_q       <= pc_d;
      in_cnt_q   <= in_cnt_d;
      out_cnt_q  <= out_cnt_d;
      clr_act_q  <= clr_act_d;
      clr_idx_q  <= clr_idx_d;
      err_ill_q  <= err_ill_d;
      err_last_q <= err_last_d;
      err_ovf_q  <= err_ovf_d;
      err_out2_q <= err_out2_d;
      prog_len_q <= prog_len_d;
      n_in_q     <= n_in_d;
      n_out_q    <= n_out_d;
    end
  end

  always_comb begin
    status_o    = '0;
    status_o[0] = err_ill_q;
    status_o[1] = err_last_q || err_ovf_q || err_out2_q;
    status_o[2] = (state_q != StIdle) || clr_act_q;
    status_o[3] = (state_q == StIdle) && !clr_act_q;
    status_o[4] = clr_act_q;
    status_o[5] = (state_q == StHalt);
    status_o[6] = err_last_q;
    status_o[7] = err_ovf_q;
  end

  // ---------------------------------------------------------------------------------------
  // register-file write buses: bank 0 load port, bank 1 input stream, 2+2c / 3+2c core c.
  // Clearing overrides banks 1.. (nothing else writes them then).
  logic             bus_en   [NumBanks];
  logic [IdxW-1:0]  bus_idx  [NumBanks];
  logic [WordW-1:0] bus_data [NumBanks];
  logic             m_en   [NUM_CORES];
  logic [IdxW-1:0]  m_idx  [NUM_CORES];
  logic [WordW-1:0] m_data [NUM_CORES];
  logic             v_en   [NUM_CORES];
  logic [IdxW-1:0]  v_idx  [NUM_CORES];
  logic [WordW-1:0] v_data [NUM_CORES];
  logic [WordW-1:0] in_word;

  // bf16 -> fp32: append 16 zero bits; subnormals read as signed zero (DAZ), NaN canonical
  always_comb begin
    for (int unsigned i = 0; i < B; i++) begin
      logic [15:0] h;
      h = in_data_i[16*i +: 16];
      if (h[14:7] == 8'd0) begin
        in_word[32*i +: 32] = {h[15], 31'd0};
      end else if (h[14:7] == 8'hFF && h[6:0] != 7'd0) begin
        in_word[32*i +: 32] = NAN32;
      end else begin
        in_word[32*i +: 32] = {h, 16'd0};
      end
    end
  end

  always_comb begin
    bus_en[0]   = ld_const;
    bus_idx[0]  = load_addr_i[IdxW-1:0];
    bus_data[0] = load_data_i[WordW-1:0];
    bus_en[1]   = in_accept;
    bus_idx[1]  = in_cnt_q[IdxW-1:0];
    bus_data[1] = in_word;
    for (int unsigned c = 0; c < NUM_CORES; c++) begin
      bus_en[2+2*c]   = m_en[c];
      bus_idx[2+2*c]  = m_idx[c];
      bus_data[2+2*c] = m_data[c];
      bus_en[3+2*c]   = v_en[c];
      bus_idx[3+2*c]  = v_idx[c];
      bus_data[3+2*c] = v_data[c];
    end
    if (clr_act_q) begin
      for (int unsigned k = 1; k < NumBanks; k++) begin
        bus_en[k]   = 1'b1;
        bus_idx[k]  = clr_idx_q;
        bus_data[k] = '0;
      end
    end
  end

  // ---------------------------------------------------------------------------------------
  // cores
  for (genvar c = 0; c < NUM_CORES; c++) begin : gen_core
    logic sel;
    assign sel = (32'(load_core_i) == c);

    rill_core #(
      .NUM_CORES   (NUM_CORES),
      .B           (B),
      .WEIGHT_DEPTH(WEIGHT_DEPTH),
      .RF_DEPTH    (RF_DEPTH),
      .INSTR_DEPTH (INSTR_DEPTH),
      .CORE_ID     (c)
    ) u_core (
      .clk_i,
      .rst_ni,
      .imem_raddr_i(pc_d),
      .issue_i     (issue),
      .illegal_o   (core_illegal[c]),
      .imem_we_i   (ld_imem && sel),
      .imem_waddr_i(load_addr_i[PcW-1:0]),
      .imem_wdata_i(load_data_i[BundleW-1:0]),
      .wmem_we_i   (ld_wmem && sel),
      .wmem_waddr_i(load_addr_i[LWAddrW-1:0]),
      .wmem_wdata_i(load_data_i[B*16-1:0]),
      .rf_wr_en_i  (bus_en),
      .rf_wr_idx_i (bus_idx),
      .rf_wr_data_i(bus_data),
      .m_wr_en_o   (m_en[c]),
      .m_wr_idx_o  (m_idx[c]),
      .m_wr_data_o (m_data[c]),
      .v_wr_en_o   (v_en[c]),
      .v_wr_idx_o  (v_idx[c]),
      .v_wr_data_o (v_data[c]),
      .out_push_o  (core_push[c]),
      .out_data_o  (core_out[c])
    );
  end

  // ---------------------------------------------------------------------------------------
  // output: at most one OUT per cycle over all cores (lowest core wins if the program breaks
  // that; flagged as a stream error), last on the inference's n_out-th beat
  always_comb begin
    push      = |core_push;
    push_data = '0;
    for (int c = NUM_CORES - 1; c >= 0; c--) begin
      if (core_push[c]) begin
        push_data = core_out[c];
      end
    end
    push_last = (out_cnt_q == n_out_q - 32'd1);
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
    .overflow_o(fifo_ovf)
  );

endmodule
