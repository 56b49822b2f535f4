// One rill core: instruction memory, decode, register-file copy, weight memory, matrix unit and
// vector unit (docs/isa.md, docs/architecture.md).
//
// Timing (issue cycle 0 = the cycle the bundle at pc is on bundle_q and issue_i is high):
//   cycle -1     the weight block is addressed with the next bundle's m_w (rill_wmem reads
//                through two registers)
//   cycle 0      register-file reads x / a / b are addressed (registered)
//   cycle 1      matrix unit gets x_i, w_i; vector unit gets op_i, dst_i, a_i, b_i
//   cycle D      MACC: acc register addressed (delayed m_acc), D = dot_stages(B) = mac_acc_read
//   cycle D+1    matrix unit gets acc_i (-0.0 for a MAC: the read port's override; the forwarded
//                matrix result when a core's matrix unit writes the acc register in cycle D+1:
//                the MACC forward, isa.Timing.macc_forward)
//   cycle D+1+ADD_STAGES  matrix result on the bank write bus (m_dst delayed), written at the
//                end (lat_mac - 1); all offsets come from rill_pkg (isa.py)
// The controller drives the fetch (rill_imem): bundle holds imem[pc] in cycle 0, from a register.
`include "rill_assert.svh"

module rill_core
  import rill_pkg::*;
#(
  parameter int unsigned NUM_CORES    = 1,
  parameter int unsigned B            = 8,
  parameter int unsigned WEIGHT_DEPTH = 256,
  parameter int unsigned RF_DEPTH     = 64,
  parameter int unsigned INSTR_DEPTH  = 1024,
  parameter int unsigned CORE_ID      = 0,
  localparam int unsigned NumBanks    = num_banks(NUM_CORES),
  localparam int unsigned BankW       = bank_bits(NUM_CORES),
  localparam int unsigned IdxW        = idx_bits(RF_DEPTH),
  localparam int unsigned AddrW       = addr_bits(NUM_CORES, RF_DEPTH),
  localparam int unsigned WAddrW      = waddr_bits(WEIGHT_DEPTH),
  localparam int unsigned LWAddrW     = WAddrW + $clog2(B),
  localparam int unsigned PcW         = $clog2(INSTR_DEPTH),
  localparam int unsigned WordW       = B * 32,
  // bundle fields, least significant first (isa.fields, via rill_pkg::f_<field>_lsb/_bits)
  localparam int unsigned MOpLsb      = f_m_op_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MOpW        = f_m_op_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MWLsb       = f_m_w_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MWW         = f_m_w_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MXLsb       = f_m_x_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MXW         = f_m_x_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MAccLsb     = f_m_acc_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MAccW       = f_m_acc_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MDstLsb     = f_m_dst_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MDstW       = f_m_dst_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned MReluLsb    = f_m_relu_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VOpLsb      = f_v_op_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VOpW        = f_v_op_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VALsb       = f_v_a_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VAW         = f_v_a_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VBLsb       = f_v_b_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VBW         = f_v_b_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VDstLsb     = f_v_dst_lsb(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned VDstW       = f_v_dst_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH),
  localparam int unsigned BundleW     = bundle_bits(NUM_CORES, RF_DEPTH, WEIGHT_DEPTH)
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  // instruction fetch / issue (from the top's control FSM)
  input  logic               fetch_first_i,
  input  logic [PcW-1:0]     fetch_addr_i,
  input  logic [PcW-1:0]     fetch_base_i,     // the selected model's first pc (rill_imem)
  input  logic               fetch_first_ld_i,
  input  logic               issue_i,
  output logic               illegal_o,
  // load port, already decoded for this core
  input  logic               imem_we_i,
  input  logic [PcW-1:0]     imem_waddr_i,
  input  logic [BundleW-1:0] imem_wdata_i,
  input  logic               wmem_we_i,
  input  logic [LWAddrW-1:0] wmem_waddr_i,
  input  logic [B*16-1:0]    wmem_wdata_i,
  // register-file write buses, one per bank (broadcast to every core)
  input  logic               rf_wr_en_i   [NumBanks],
  input  logic [IdxW-1:0]    rf_wr_idx_i  [NumBanks],
  input  logic [WordW-1:0]   rf_wr_data_i [NumBanks],
  // this core's matrix-bank and vector-bank write buses
  output logic               m_wr_en_o,
  output logic [IdxW-1:0]    m_wr_idx_o,
  output logic [WordW-1:0]   m_wr_data_o,
  // the MACC forward (every core's, broadcast like the write buses): this core's matrix op
  // two cycles before its write-back cycle, and its result one cycle before (the add's R2)
  output logic               m_fwd_en_o,
  output logic [IdxW-1:0]    m_fwd_idx_o,
  output logic [WordW-1:0]   m_fwd_data_o,
  input  logic               m_fwd_en_i   [NUM_CORES],
  input  logic [IdxW-1:0]    m_fwd_idx_i  [NUM_CORES],
  input  logic [WordW-1:0]   m_fwd_data_i [NUM_CORES],
  // the vector forward, likewise: this core's ADD/SUB, MUL or activation two cycles before
  // its write-back cycle, and its result one cycle before it
  output logic               v_fwd_en_o,
  output logic [IdxW-1:0]    v_fwd_idx_o,
  output logic [WordW-1:0]   v_fwd_data_o,
  input  logic               v_fwd_en_i   [NUM_CORES],
  input  logic [IdxW-1:0]    v_fwd_idx_i  [NUM_CORES],
  input  logic [WordW-1:0]   v_fwd_data_i [NUM_CORES],
  output logic               v_wr_en_o,
  output logic [IdxW-1:0]    v_wr_idx_o,
  output logic [WordW-1:0]   v_wr_data_o,
  // OUT beat (cycle 1 after issue)
  output logic               out_push_o,
  output logic [B*16-1:0]    out_data_o
);

  localparam int unsigned AccRd    = lat_mac_acc_read(B);  // cycle the acc register is addressed
  localparam int unsigned MatWb    = lat_mac(B) - 1;       // write-back cycle
  localparam int unsigned PipeLen  = MatWb;                // stage k holds cycle k+1

  // ---------------------------------------------------------------------------------------
  // fetch and decode
  logic [BundleW-1:0] bundle;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [BundleW-1:0] bundle_next;  // only its m_w field: the weight read is a cycle ahead
  logic [BundleW-1:0] bundle_ahead; // only m_x, v_a, v_b: the vector forward's decision
  /* verilator lint_on UNUSEDSIGNAL */
  m_op_e              m_op;
  logic [AddrW-1:0]   m_x, m_acc, v_a, v_b;
  logic [IdxW-1:0]    m_dst, v_dst;
  v_op_e              v_op;
  logic               m_live, m_macc, m_relu, v_live, v_uses_b, issue;
  logic               bad_mop, bad_vop, bad_bank;

  rill_imem #(
    .WIDTH      (BundleW),
    .INSTR_DEPTH(INSTR_DEPTH),
    .CORE_ID    (CORE_ID)
  ) u_imem (
    .clk_i,
    .rst_ni,
    .wr_en_i  (imem_we_i),
    .wr_addr_i(imem_waddr_i),
    .wr_data_i(imem_wdata_i),
    .first_i  (fetch_first_i),
    .base_i   (fetch_base_i),
    .first_ld_i(fetch_first_ld_i),
    .rd_addr_i(fetch_addr_i),
    .bundle_o (bundle),
    .bundle_next_o(bundle_next),
    .bundle_ahead_o(bundle_ahead)
  );

  function automatic logic bank_ok(logic [BankW-1:0] bank);
    return 32'(bank) < NumBanks;
  endfunction

  always_comb begin
    m_op  = m_op_e'(bundle[MOpLsb +: MOpW]);
    m_x   = bundle[MXLsb +: MXW];
    m_acc = bundle[MAccLsb +: MAccW];
    m_dst = bundle[MDstLsb +: MDstW];
    m_relu = bundle[MReluLsb];
    v_op  = v_op_e'(bundle[VOpLsb +: VOpW]);
    v_a   = bundle[VALsb +: VAW];
    v_b   = bundle[VBLsb +: VBW];
    v_dst = bundle[VDstLsb +: VDstW];

    m_live   = (m_op == M_MAC) || (m_op == M_MACC);
    m_macc   = (m_op == M_MACC);
    v_live   = (v_op != V_NOP);
    v_uses_b = v_op inside {V_ADD, V_SUB, V_MUL, V_MAX, V_MIN, V_GT, V_GE, V_KEEP, V_DROP,
                            V_OR};  // isa.BINARY_VOPS

    // illegal: an m_op that is no MOp, a v_op that is no VOp, or an operand address (of an
    // op that reads it) in a bank >= NumBanks
    bad_mop  = !(m_op inside {M_NOP, M_MAC, M_MACC});
    // (13..15 and 26..31 are no VOp)
    bad_vop  = !(v_op inside {V_NOP, V_ADD, V_SUB, V_MUL, V_RELU, V_TANH, V_SIGMOID, V_OUT,
                              V_MAX, V_MIN, V_ABS, V_NEG, V_PHI, V_RECIP, V_RSQRT, V_EXP2,
                              V_LOG2, V_GT, V_GE, V_KEEP, V_DROP, V_OR, V_RMAX});
    bad_bank = (m_live && !bank_ok(m_x[AddrW-1:IdxW])) || (m_macc && !bank_ok(m_acc[AddrW-1:IdxW])) ||
               (v_live && !bank_ok(v_a[AddrW-1:IdxW])) || (v_uses_b && !bank_ok(v_b[AddrW-1:IdxW]));
    illegal_o = issue_i && (bad_mop || bad_vop || bad_bank);
    issue     = issue_i && !(bad_mop || bad_vop || bad_bank);
  end

  // ---------------------------------------------------------------------------------------
  // matrix-slot control pipeline: stage k holds the op issued k+1 cycles ago
  typedef struct packed {
    logic             live;
    logic             macc;
    logic [AddrW-1:0] acc;
    logic [IdxW-1:0]  dst;
  } mctl_t;

  mctl_t mpipe_d [PipeLen];
  mctl_t mpipe_q [PipeLen];

  always_comb begin
    mpipe_d[0] = '{live: issue && m_live, macc: issue && m_macc, acc: m_acc, dst: m_dst};
    for (int unsigned k = 1; k < PipeLen; k++) begin
      mpipe_d[k] = mpipe_q[k-1];
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      for (int unsigned k = 0; k < PipeLen; k++) begin
        mpipe_q[k] <= '0;
      end
    end else begin
      mpipe_q <= mpipe_d;
    end
  end

  // ---------------------------------------------------------------------------------------
  // MACC forward (isa.Timing.macc_forward = 1): a MACC whose accumulator is a matrix result
  // (any core's) written in the cycle after its acc read takes that core's accumulate-add R2
  // value (its write bus one cycle early) instead of the bank read. Decided a cycle ahead from
  // registers (this MACC one cycle before its acc read; each core's producer two cycles
  // before its write-back cycle, m_fwd_en_o / m_fwd_idx_o), so the read port sees one register
  // bit per core.
  logic fwd_d [NUM_CORES];
  logic fwd_q [NUM_CORES];

  if (MACC_FORWARD != 1) begin : gen_fwd_check
    $error("rill_core implements MACC_FORWARD = 1 only");
  end

  assign m_fwd_en_o  = mpipe_q[MatWb-3].live;
  assign m_fwd_idx_o = mpipe_q[MatWb-3].dst;

  always_comb begin
    for (int unsigned c = 0; c < NUM_CORES; c++) begin
      fwd_d[c] = mpipe_q[AccRd-2].macc && m_fwd_en_i[c] &&
                 (mpipe_q[AccRd-2].acc == {BankW'(matrix_bank(c)), m_fwd_idx_i[c]});
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      for (int unsigned c = 0; c < NUM_CORES; c++) begin
        fwd_q[c] <= 1'b0;
      end
    end else begin
      fwd_q <= fwd_d;
    end
  end

  // ---------------------------------------------------------------------------------------
  // Vector forward (isa.Timing.vector_forward = 1): a vector op's a/b read, or a matrix op's x
  // read, of a vector bank in the cycle before an ADD/SUB, MUL or TANH/SIGMOID/PHI result is
  // written there takes that unit's last-stage value. Both slots read in their issue cycle, so the
  // match is decided a cycle ahead from the next bundle and each core's ADD/MUL/activation two
  // cycles before its write-back cycle; an op that does not issue or read ignores its read
  // register. The next bundle is taken from the fetch's read register (rill_imem's
  // bundle_ahead_o), not from the select in front of the bundle register: that select waits for
  // the start decision (first_i, from the output FIFO's room: 6.5 levels). It differs only when
  // the next bundle is a program's first, and then no forwarded op can be two cycles from its
  // write-back (a program's writes land before it ends), so no bit is set.
  logic [AddrW-1:0] next_m_x, next_v_a, next_v_b;
  logic xfwd_d [NUM_CORES];
  logic xfwd_q [NUM_CORES];
  logic afwd_d [NUM_CORES];
  logic afwd_q [NUM_CORES];
  logic bfwd_d [NUM_CORES];
  logic bfwd_q [NUM_CORES];
  // the matrix forward (Timing.read_ahead: a MAC/MACC result to ports x, a, b): core c's
  // matrix op two cycles before its write-back (m_fwd_en_i / m_fwd_idx_i, registers, as for
  // the acc port) against the next bundle's addresses
  logic xmfwd_d [NUM_CORES];
  logic xmfwd_q [NUM_CORES];
  logic amfwd_d [NUM_CORES];
  logic amfwd_q [NUM_CORES];
  logic bmfwd_d [NUM_CORES];
  logic bmfwd_q [NUM_CORES];

  if (VECTOR_FORWARD != 1) begin : gen_afwd_check
    $error("rill_core implements VECTOR_FORWARD = 1 only");
  end

  assign next_m_x = bundle_ahead[MXLsb +: MXW];
  assign next_v_a = bundle_ahead[VALsb +: VAW];
  assign next_v_b = bundle_ahead[VBLsb +: VBW];

  always_comb begin
    for (int unsigned c = 0; c < NUM_CORES; c++) begin
      xfwd_d[c] = v_fwd_en_i[c] && (next_m_x == {BankW'(vector_bank(c)), v_fwd_idx_i[c]});
      afwd_d[c] = v_fwd_en_i[c] && (next_v_a == {BankW'(vector_bank(c)), v_fwd_idx_i[c]});
      bfwd_d[c] = v_fwd_en_i[c] && (next_v_b == {BankW'(vector_bank(c)), v_fwd_idx_i[c]});
      xmfwd_d[c] = m_fwd_en_i[c] && (next_m_x == {BankW'(matrix_bank(c)), m_fwd_idx_i[c]});
      amfwd_d[c] = m_fwd_en_i[c] && (next_v_a == {BankW'(matrix_bank(c)), m_fwd_idx_i[c]});
      bmfwd_d[c] = m_fwd_en_i[c] && (next_v_b == {BankW'(matrix_bank(c)), m_fwd_idx_i[c]});
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      for (int unsigned c = 0; c < NUM_CORES; c++) begin
        xfwd_q[c] <= 1'b0;
        afwd_q[c] <= 1'b0;
        bfwd_q[c] <= 1'b0;
        xmfwd_q[c] <= 1'b0;
        amfwd_q[c] <= 1'b0;
        bmfwd_q[c] <= 1'b0;
      end
    end else begin
      xfwd_q <= xfwd_d;
      afwd_q <= afwd_d;
      bfwd_q <= bfwd_d;
      xmfwd_q <= xmfwd_d;
      amfwd_q <= amfwd_d;
      bmfwd_q <= bmfwd_d;
    end
  end

  // ---------------------------------------------------------------------------------------
  // vector-slot issue register (cycle 1)
  v_op_e           vop_d, vop_q;
  logic [IdxW-1:0] vdst_d, vdst_q;

  assign vop_d  = issue ? v_op : V_NOP;
  assign vdst_d = v_dst;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      vop_q  <= V_NOP;
      vdst_q <= '0;
    end else begin
      vop_q  <= vop_d;
      vdst_q <= vdst_d;
    end
  end

  // ---------------------------------------------------------------------------------------
  // register file and weight memory
  logic [AddrW-1:0] rd_addr [4];
  logic             rd_nz [4];
  logic [WordW-1:0] rd_data [4];
  logic [B*B*16-1:0] wblock;
  logic [WordW-1:0] mat_y;

  always_comb begin
    rd_addr[0] = m_x;
    rd_addr[1] = mpipe_q[AccRd-1].acc;
    rd_addr[2] = v_a;
    rd_addr[3] = v_b;
    // a MAC's accumulator reads -0.0 (x + -0.0 = x for every x, so MAC needs no other path)
    rd_nz[0]   = 1'b0;
    rd_nz[1]   = !mpipe_q[AccRd-1].macc;
    rd_nz[2]   = 1'b0;
    rd_nz[3]   = 1'b0;
  end

  rill_regfile #(
    .NUM_CORES(NUM_CORES),
    .B        (B),
    .RF_DEPTH (RF_DEPTH)
  ) u_regfile (
    .clk_i,
    .rst_ni,
    .wr_en_i  (rf_wr_en_i),
    .wr_idx_i (rf_wr_idx_i),
    .wr_data_i(rf_wr_data_i),
    .rd_addr_i(rd_addr),
    .rd_nz_i  (rd_nz),
    .acc_fwd_i(fwd_q),
    .acc_fwd_data_i(m_fwd_data_i),
    .x_fwd_i  (xfwd_q),
    .a_fwd_i  (afwd_q),
    .b_fwd_i  (bfwd_q),
    .v_fwd_data_i(v_fwd_data_i),
    .xm_fwd_i (xmfwd_q),
    .am_fwd_i (amfwd_q),
    .bm_fwd_i (bmfwd_q),
    .rd_data_o(rd_data)
  );

  rill_wmem #(
    .B           (B),
    .WEIGHT_DEPTH(WEIGHT_DEPTH),
    .CORE_ID     (CORE_ID)
  ) u_wmem (
    .clk_i,
    .rst_ni,
    .wr_en_i  (wmem_we_i),
    .wr_addr_i(wmem_waddr_i),
    .wr_data_i(wmem_wdata_i),
    .rd_addr_i(bundle_next[MWLsb +: MWW]),
    .rd_data_o(wblock)
  );

  // ---------------------------------------------------------------------------------------
  // datapath units

  // m_relu: the op reads RELU(bf16(x)) (isa.Bundle.m_relu); x reaches the matrix unit's S1
  // from the read register in the cycle after issue, the flag from this register
  logic x_relu_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      x_relu_q <= 1'b0;
    end else begin
      x_relu_q <= m_relu;
    end
  end

  rill_matrix_unit #(
    .B(B)
  ) u_matrix (
    .clk_i,
    .rst_ni,
    .x_i     (rd_data[0]),
    .x_relu_i(x_relu_q),
    .w_i     (wblock),
    .acc_i   (rd_data[1]),
    .y_o     (mat_y),
    .y_next_o(m_fwd_data_o)
  );

  assign m_wr_en_o   = mpipe_q[MatWb-1].live;
  assign m_wr_idx_o  = mpipe_q[MatWb-1].dst;
  assign m_wr_data_o = mat_y;

  rill_vector_unit #(
    .B       (B),
    .IDX_BITS(IdxW)
  ) u_vector (
    .clk_i,
    .rst_ni,
    .op_i      (vop_q),
    .dst_i     (vdst_q),
    .a_i       (rd_data[2]),
    .b_i       (rd_data[3]),
    .wr_en_o   (v_wr_en_o),
    .wr_idx_o  (v_wr_idx_o),
    .wr_data_o (v_wr_data_o),
    .out_push_o(out_push_o),
    .out_data_o(out_data_o),
    .fwd_en_o  (v_fwd_en_o),
    .fwd_idx_o (v_fwd_idx_o),
    .fwd_data_o(v_fwd_data_o)
  );

  // ---------------------------------------------------------------------------------------
  // assertions
  `ASSERT_KNOWN(IllegalKnown_A, illegal_o, clk_i, rst_ni)
  `ASSERT_KNOWN(WrEnKnown_A, {m_wr_en_o, v_wr_en_o, out_push_o}, clk_i, rst_ni)
  `ASSERT_KNOWN(BundleKnown_A, issue_i ? bundle : '0, clk_i, rst_ni)

endmodule
