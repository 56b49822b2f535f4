// rill controller: load-port decode, control registers, the control FSM, the clear sequencer
// and status_o (docs/isa.md "One inference").
//
// Control FSM:
//   IDLE  in_ready (in_enable_o) = 1; the input stream writes beat n to bank 1, idx n. Its
//         n_in-th beat (in_done_i) moves to WAIT.
//   WAIT  the cycle after the last beat: if the output FIFO has room for n_out beats
//         (out_room_i), pc 0 issues in this very cycle (and the FSM moves to RUN / IDLE), else
//         it waits.
//   RUN   pc 1 .. P-1 issue, one per cycle; after pc P-1, back to IDLE.
//   HALT  an illegal bundle was issued: nothing issues until clear_i or reset.
// Fetch (rill_imem): the cores' bundle registers hold imem[pc] in the cycle pc issues. The
// selected model's bundles are pc base .. base + P - 1 (pc_q counts from base, cnt_q from 0).
// fetch_first_o says the next cycle's pc is base (not RUN next: the bundle register loads the
// core's copy of imem[base]); fetch_addr_o is the pc one cycle later still (pc + 2 in RUN,
// base + 1 otherwise), read from the instruction memory into its read register, which the
// bundle register loads next.
//
// WAIT does not issue in the cycle after an instruction-memory write (the fetch register may
// hold the old bundle at pc base + 1; rill_imem).
//
// Model table (docs/isa.md, "Several models"): MAX_MODELS entries of PROG_LEN, N_IN, N_OUT,
// BASE, REG_LO, REG_HI, written at control address {model, field}; the selected entry is
// copied into the active registers the FSM and the streams use. A write to the selected
// model's entry writes its active copy too, so a one-model program loads PROG_LEN, N_IN and
// N_OUT at addresses 0, 1, 2 as before (after reset model 0 is selected, every entry has BASE
// 0 and the register range 0 .. RF_DEPTH-1). Writing MODEL_SELECT (only taken while IDLE and
// not clearing) copies that model's entry in one cycle (a 4:1 select into a register), then
// refreshes the cores' copy of imem[base] over SELECT_CYCLES cycles: fetch_addr_o = base (the
// read register gets imem[base]), then first_ld_o (the copy loads it); in_ready is low
// meanwhile, so the first input beat is taken SELECT_CYCLES + 1 cycles after the select at
// the earliest and pc base issues the cycle after the last beat, as ever. A write to the
// selected model's BASE starts the same refresh.
//
// The control registers are kept as the comparisons need them, computed when loaded:
// prog_len - 1, n_in - 1, n_out - 1, OUT_FIFO_DEPTH - n_out clipped to [-1, OUT_FIFO_DEPTH]
// (the FIFO has room for an inference's output when its count is at most that), base + 1 and
// reg_hi - 1, so no path subtracts and compares, and the room compare is as wide as the FIFO
// count.
//
// Load port (isa.LoadSel): LOAD_IMEM / LOAD_WMEM / LOAD_CONST are decoded here for the cores and
// the constant bank; LOAD_CTRL writes the control register at ctrl_addr_i (isa.CtrlReg).
//
// clear_i (a pulse, taken when not already clearing: clear_o) zeroes banks 1.. of every core
// at the selected model's register indices REG_LO .. REG_HI-1, one per cycle (clr_act_o /
// clr_idx_o, status CLEARING; RF_DEPTH cycles for the whole bank, a one-model program), resets
// the FSM to IDLE, and clears the sticky error bits; clear_o also resets the stream counters.
// Inputs are not accepted while clearing.
//
// status_o (isa.Status): sticky illegal; sticky stream error (in_last mismatch | output FIFO
// overflow | two OUTs in one cycle); busy; idle; clearing; halted; the two sticky details.
`include "rill_assert.svh"

module rill_ctrl
  import rill_pkg::*;
#(
  parameter int unsigned RF_DEPTH    = 64,
  parameter int unsigned INSTR_DEPTH = 1024,
  parameter int unsigned OUT_FIFO_DEPTH = 64,
  localparam int unsigned IdxW       = idx_bits(RF_DEPTH),
  localparam int unsigned PcW        = $clog2(INSTR_DEPTH),
  localparam int unsigned LimW       = $clog2(OUT_FIFO_DEPTH + 1) + 1
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // load port
  input  logic                      load_valid_i,
  input  load_sel_e                 load_sel_i,
  input  logic [CTRL_ADDR_BITS-1:0] ctrl_addr_i,  // {model, field} (isa.ctrl_addr)
  input  logic [CTRL_DATA_BITS-1:0] ctrl_data_i,
  output logic                      ld_imem_o,
  output logic                      ld_wmem_o,
  output logic                      ld_const_o,
  // control registers, as used: n_in - 1, n_out - 1, OUT_FIFO_DEPTH - n_out (signed, clipped)
  output logic [CTRL_DATA_BITS-1:0] n_in_last_o,
  output logic [CTRL_DATA_BITS-1:0] n_out_last_o,
  output logic [LimW-1:0]           out_room_lim_o,
  // input stream
  output logic                      in_enable_o,   // accept beats (in_ready)
  input  logic                      in_done_i,     // the inference's last beat is accepted
  input  logic                      in_last_err_i,  // in_last on the wrong beat
  // output stream
  input  logic                      out_room_i,    // the FIFO has room for n_out beats
  input  logic                      out_ovf_i,     // a push was dropped (FIFO full)
  input  logic                      out_multi_i,   // two OUTs in one cycle
  // cores
  output logic                      issue_o,
  output logic                      fetch_first_o,  // the next cycle holds pc base
  output logic [PcW-1:0]            fetch_addr_o,   // pc of the cycle after next
  output logic [PcW-1:0]            base_o,         // the selected model's first pc
  output logic                      first_ld_o,     // copy the fetch register to imem[base]'s
  input  logic                      illegal_i,     // some core's issued bundle is illegal
  // clear
  input  logic                      clear_i,
  output logic                      clear_o,       // clear_i taken this cycle
  output logic                      clr_act_o,
  output logic [IdxW-1:0]           clr_idx_o,
  // status
  output status_t                   status_o
);

  typedef enum logic [1:0] {
    StIdle = 2'd0,
    StWait = 2'd1,
    StRun  = 2'd2,
    StHalt = 2'd3
  } state_e;

  // ---------------------------------------------------------------------------------------
  // load-port decode, the model table and the active (selected) control registers
  typedef struct packed {
    logic [CTRL_DATA_BITS-1:0] prog_last;
    logic [CTRL_DATA_BITS-1:0] n_in_last;
    logic [CTRL_DATA_BITS-1:0] n_out_last;
    logic [LimW-1:0]           room_lim;
    logic [PcW-1:0]            base;
    logic [PcW-1:0]            base_p1;
    logic [IdxW-1:0]           reg_lo;
    logic [IdxW-1:0]           reg_last;
  } entry_t;
  localparam int unsigned ModelW = CTRL_MODEL_BITS;
  localparam entry_t EntryReset = '{
    prog_last: '1, n_in_last: '1, n_out_last: '1,  // prog_len 0, n_in 0, n_out 0
    room_lim: LimW'(OUT_FIFO_DEPTH), base: '0, base_p1: PcW'(1), reg_lo: '0, reg_last: '1};

  entry_t                    tab_d [MAX_MODELS];
  entry_t                    tab_q [MAX_MODELS];
  entry_t                    act_d, act_q, wr_entry;
  logic [ModelW-1:0]         sel_d, sel_q, wr_model;
  logic [CTRL_FIELD_BITS-1:0] wr_field;
  logic                      ld_ctrl, ld_imem_q, ld_select, ld_table, wr_active, refresh;
  logic [1:0]                selcnt_d, selcnt_q;  // SELECT_CYCLES .. 0: refreshing imem[base]
  state_e                    state_q;
  logic                      clr_act_q;

  always_comb begin
    ld_imem_o  = load_valid_i && (load_sel_i == LOAD_IMEM);
    ld_wmem_o  = load_valid_i && (load_sel_i == LOAD_WMEM);
    ld_const_o = load_valid_i && (load_sel_i == LOAD_CONST);
    ld_ctrl    = load_valid_i && (load_sel_i == LOAD_CTRL);
    wr_field   = ctrl_addr_i[CTRL_FIELD_BITS-1:0];
    wr_model   = ctrl_addr_i[CTRL_ADDR_BITS-1:CTRL_FIELD_BITS];
    // only between inferences: IDLE, not clearing
    ld_select  = ld_ctrl && ctrl_addr_i == CTRL_ADDR_BITS'(CTRL_MODEL_SELECT)
                 && state_q == StIdle && !clr_act_q;
    ld_table   = ld_ctrl && wr_field < CTRL_FIELD_BITS'(CTRL_MODEL_SELECT);
    wr_active  = ld_table && wr_model == sel_q;
    // the written field, as the comparisons use it, into a copy of the entry
    wr_entry   = tab_q[wr_model];
    unique case (wr_field)
      CTRL_FIELD_BITS'(CTRL_PROG_LEN): wr_entry.prog_last = ctrl_data_i - CTRL_DATA_BITS'(1);
      CTRL_FIELD_BITS'(CTRL_N_IN):     wr_entry.n_in_last = ctrl_data_i - CTRL_DATA_BITS'(1);
      CTRL_FIELD_BITS'(CTRL_N_OUT): begin
        wr_entry.n_out_last = ctrl_data_i - CTRL_DATA_BITS'(1);
        wr_entry.room_lim   = ctrl_data_i > CTRL_DATA_BITS'(OUT_FIFO_DEPTH) ? '1
                                                                             : LimW'(OUT_FIFO_DEPTH) - LimW'(ctrl_data_i);
      end
      CTRL_FIELD_BITS'(CTRL_BASE): begin
        wr_entry.base    = ctrl_data_i[PcW-1:0];
        wr_entry.base_p1 = ctrl_data_i[PcW-1:0] + PcW'(1);
      end
      CTRL_FIELD_BITS'(CTRL_REG_LO): wr_entry.reg_lo = ctrl_data_i[IdxW-1:0];
      CTRL_FIELD_BITS'(CTRL_REG_HI): wr_entry.reg_last = IdxW'(ctrl_data_i - CTRL_DATA_BITS'(1));
      default: ;
    endcase
    // a loop of compares, not tab_d[wr_model]: an indexed write elaborates into a bit-wise
    // mux cell the synthesis flow cannot map
    for (int unsigned m = 0; m < MAX_MODELS; m++) begin
      tab_d[m] = (ld_table && 32'(wr_model) == m) ? wr_entry : tab_q[m];
    end
    sel_d = sel_q;
    act_d = act_q;
    // the selected entry: a 4:1 select of registers by the load port's data, registered
    if (ld_select) begin
      sel_d = ctrl_data_i[ModelW-1:0];
      act_d = tab_q[ctrl_data_i[ModelW-1:0]];
    end else if (wr_active) begin
      act_d = wr_entry;
    end
    refresh  = ld_select || (wr_active && wr_field == CTRL_FIELD_BITS'(CTRL_BASE));
    selcnt_d = refresh ? 2'(SELECT_CYCLES) : (selcnt_q != '0 ? selcnt_q - 2'(1) : selcnt_q);
  end

  assign n_in_last_o    = act_q.n_in_last;
  assign n_out_last_o   = act_q.n_out_last;
  assign out_room_lim_o = act_q.room_lim;
  assign base_o         = act_q.base;
  // the refresh: cycle 1 reads imem[base] into the fetch register, cycle 2 copies it
  assign first_ld_o     = selcnt_q == 2'(SELECT_CYCLES - 1);

  // ---------------------------------------------------------------------------------------
  // control FSM, clear sequencer, sticky errors
  state_e          state_d;
  logic [PcW-1:0]  pc_d, pc_q;  // the issuing pc: base .. base + P - 1
  logic [PcW-1:0]  cnt_d, cnt_q;  // pc - base
  logic            clr_act_d;
  logic [IdxW-1:0] clr_idx_d, clr_idx_q;
  logic            err_ill_d, err_ill_q, err_last_d, err_last_q, err_ovf_d, err_ovf_q;
  logic            err_out2_d, err_out2_q;
  logic            last_pc;

  // issue decision (separate block: the cores' illegal_i depends on it, the next state on both)
  always_comb begin
    in_enable_o = (state_q == StIdle) && !clr_act_q && selcnt_q == '0;
    issue_o     = !clr_act_q && (state_q == StRun || (state_q == StWait && out_room_i && !ld_imem_q));
    last_pc     = (CTRL_DATA_BITS'(cnt_q) == act_q.prog_last);
    clear_o     = clear_i && !clr_act_q;
  end

  always_comb begin
    state_d    = state_q;
    pc_d       = act_q.base;
    cnt_d      = '0;
    clr_act_d  = clr_act_q;
    clr_idx_d  = clr_idx_q;
    err_ill_d  = err_ill_q || illegal_i;
    err_last_d = err_last_q || in_last_err_i;
    err_ovf_d  = err_ovf_q || out_ovf_i;
    err_out2_d = err_out2_q || out_multi_i;

    if (in_done_i) begin
      state_d = StWait;
    end
    if (issue_o) begin
      if (illegal_i) begin
        state_d = StHalt;
      end else if (last_pc) begin
        state_d = StIdle;
      end else begin
        state_d = StRun;
        pc_d    = pc_q + PcW'(1);
        cnt_d   = cnt_q + PcW'(1);
      end
    end

    if (clr_act_q) begin
      clr_idx_d = clr_idx_q + IdxW'(1);
      if (clr_idx_q == act_q.reg_last) begin
        clr_act_d = 1'b0;
      end
    end
    if (clear_o) begin
      clr_act_d  = 1'b1;
      clr_idx_d  = act_q.reg_lo;
      state_d    = StIdle;
      pc_d       = act_q.base;
      cnt_d      = '0;
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
      cnt_q      <= '0;
      clr_act_q  <= 1'b0;
      clr_idx_q  <= '0;
      err_ill_q  <= 1'b0;
      err_last_q <= 1'b0;
      err_ovf_q  <= 1'b0;
      err_out2_q <= 1'b0;
      for (int unsigned m = 0; m < MAX_MODELS; m++) begin
        tab_q[m] <= EntryReset;
      end
      act_q        <= EntryReset;
      sel_q        <= '0;
      selcnt_q     <= '0;
      ld_imem_q    <= 1'b0;
    end else begin
      state_q    <= state_d;
      pc_q       <= pc_d;
      cnt_q      <= cnt_d;
      clr_act_q  <= clr_act_d;
      clr_idx_q  <= clr_idx_d;
      err_ill_q  <= err_ill_d;
      err_last_q <= err_last_d;
      err_ovf_q  <= err_ovf_d;
      err_out2_q <= err_out2_d;
      tab_q        <= tab_d;
      act_q        <= act_d;
      sel_q        <= sel_d;
      selcnt_q     <= selcnt_d;
      ld_imem_q    <= ld_imem_o;
    end
  end

  // fetch: the pc after pc_d, from two increments of registers and the issue decision; while
  // refreshing the copy of imem[base] (the cycle after a select), base itself
  logic run_next;
  assign run_next      = issue_o && !illegal_i && !last_pc && !clear_o;
  assign fetch_first_o = !run_next;
  assign fetch_addr_o  = run_next ? pc_q + PcW'(2)
                                  : (selcnt_q == 2'(SELECT_CYCLES) ? act_q.base : act_q.base_p1);
  assign clr_act_o = clr_act_q;
  assign clr_idx_o = clr_idx_q;

  always_comb begin
    status_o              = '0;
    status_o.illegal      = err_ill_q;
    status_o.stream_err   = err_last_q || err_ovf_q || err_out2_q;
    status_o.busy         = (state_q != StIdle) || clr_act_q || selcnt_q != '0;
    status_o.idle         = in_enable_o;
    status_o.clearing     = clr_act_q;
    status_o.halted       = (state_q == StHalt);
    status_o.in_last_err  = err_last_q;
    status_o.out_overflow = err_ovf_q;
  end

  // ---------------------------------------------------------------------------------------
  // assertions
  `ASSERT_KNOWN(StateKnown_A, state_q, clk_i, rst_ni)
  // an inference's input only completes in IDLE, so it never races an issue
  `ASSERT_NEVER(DoneWhileIssue_A, in_done_i && issue_o, clk_i, rst_ni)
  // the fetch's decision is the pc's: the next cycle holds pc base exactly when cnt_d is 0
  `ASSERT(FetchFirst_A, fetch_first_o == (cnt_d == '0), clk_i, rst_ni)
  // the select and its refresh happen between inferences only
  `ASSERT_NEVER(SelectWhileBusy_A, selcnt_q != '0 && state_q != StIdle, clk_i, rst_ni)
  // HALT is left only through clear_i
  `ASSERT_STABLE(HaltHolds_A, state_q == StHalt, state_q == StHalt && !clear_o, clk_i, rst_ni)

endmodule
