// Assertion macros, in the spirit of lowRISC's prim_assert.sv. Compiled in simulation and lint
// (Verilator needs --assert, which the cosim build and lint pass); empty under SYNTHESIS.
//
//   `ASSERT(Name_A, prop, clk, rst_n)        prop holds at every rising clk edge out of reset
//   `ASSERT_NEVER(Name_A, prop, clk, rst_n)  prop never holds there
//   `ASSERT_KNOWN(Name_A, sig, clk, rst_n)   sig has no X/Z bits there
//   `ASSERT_STABLE(Name_A, sig, cond, clk, rst_n)
//                                            sig keeps its value into the cycle after one in
//                                            which cond held (valid && !ready: data stable)
//
// rst_n is the active-low asynchronous reset: checks are off while it is low. Qualify a check
// with other conditions inside prop. A failing check calls $error with the assertion name and
// source line; Verilator stops the simulation on $error, which fails the cocotb test.

`ifndef RILL_ASSERT_SVH
`define RILL_ASSERT_SVH

`define RILL_STRINGIFY(__x) `"__x`"

`ifndef SYNTHESIS

// Immediate assertions in a process with the async reset in its sensitivity list, like the
// flops: rst_n stays a purely asynchronous net (Verilator SYNCASYNCNET), and a check never
// sees a value from inside reset.
`define ASSERT(__name, __prop, __clk, __rst_n)                                             \
  always @(posedge __clk or negedge __rst_n) begin : __name                                  \
    if (__rst_n) begin                                                                       \
      assert (__prop)                                                                        \
      else $error("[ASSERT FAILED] %m: %s (%s:%0d)", `RILL_STRINGIFY(__name), `__FILE__,    \
                  `__LINE__);                                                                \
    end                                                                                      \
  end

`define ASSERT_NEVER(__name, __prop, __clk, __rst_n) \
  `ASSERT(__name, !(__prop), __clk, __rst_n)

`define ASSERT_KNOWN(__name, __sig, __clk, __rst_n) \
  `ASSERT(__name, !$isunknown(__sig), __clk, __rst_n)

// sig in a cycle after one where cond held equals its value in that cycle
`define ASSERT_STABLE(__name, __sig, __cond, __clk, __rst_n)                  \
  logic                    __name``_cond_q;                                     \
  logic [$bits(__sig)-1:0] __name``_sig_q;                                      \
  always_ff @(posedge __clk or negedge __rst_n) begin                           \
    if (!__rst_n) begin                                                         \
      __name``_cond_q <= 1'b0;                                                  \
      __name``_sig_q  <= '0;                                                    \
    end else begin                                                              \
      __name``_cond_q <= (__cond);                                              \
      __name``_sig_q  <= (__sig);                                               \
    end                                                                         \
  end                                                                           \
  `ASSERT(__name, !__name``_cond_q || ((__sig) == __name``_sig_q), __clk, __rst_n)

`else  // SYNTHESIS

`define ASSERT(__name, __prop, __clk, __rst_n)
`define ASSERT_NEVER(__name, __prop, __clk, __rst_n)
`define ASSERT_KNOWN(__name, __sig, __clk, __rst_n)
`define ASSERT_STABLE(__name, __sig, __cond, __clk, __rst_n)

`endif  // SYNTHESIS

`endif  // RILL_ASSERT_SVH
