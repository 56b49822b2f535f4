"""rill_top's load port: one word per cycle into imem, wmem, the constants or a control register.

Select codes and control-register addresses come from `rill.hw.isa` (LoadSel, CtrlReg); the
words of a program image from `rill.cosim.image.RunImage`, the same ones its `$readmemh`
backdoor files hold.
"""

from __future__ import annotations

from cocotb.triggers import FallingEdge

from rill.cosim.image import RunImage
from rill.hw import isa


class LoadPort:
    def __init__(self, dut, clk):
        self.dut, self.clk = dut, clk
        dut.load_valid_i.value = 0
        dut.load_sel_i.value = isa.LoadSel.IMEM
        dut.load_core_i.value = 0
        dut.load_addr_i.value = 0
        dut.load_data_i.value = 0

    async def write(self, sel: isa.LoadSel, core: int, addr: int, data: int) -> None:
        """One word, valid for one cycle. Call at a falling edge; returns at the next one."""
        d = self.dut
        d.load_valid_i.value = 1
        d.load_sel_i.value = sel
        d.load_core_i.value = core
        d.load_addr_i.value = addr
        d.load_data_i.value = data
        await FallingEdge(self.clk)
        d.load_valid_i.value = 0

    async def write_words(self, sel: isa.LoadSel, core: int, words: list[int]) -> None:
        """Consecutive words from address 0, back to back."""
        for addr, word in enumerate(words):
            await self.write(sel, core, addr, word)

    async def write_ctrl(self, length: int, n_in: int, n_out: int) -> None:
        """The control registers: program length and beats in / out per inference."""
        regs = {isa.CtrlReg.PROG_LEN: length, isa.CtrlReg.N_IN: n_in, isa.CtrlReg.N_OUT: n_out}
        for addr, value in regs.items():
            await self.write(isa.LoadSel.CTRL, 0, addr, value)

    async def write_models(self, program) -> None:
        """Every model's entry of the model table (isa.CtrlReg at isa.ctrl_addr(reg, model));
        a one-model program's entry is the reset one but for PROG_LEN, N_IN, N_OUT."""
        R = isa.CtrlReg
        for m, e in enumerate(program.model_table()):
            for reg, value in ((R.PROG_LEN, e.length), (R.N_IN, e.n_in), (R.N_OUT, e.n_out),
                               (R.BASE, e.base), (R.REG_LO, e.reg_lo), (R.REG_HI, e.reg_hi)):
                await self.write(isa.LoadSel.CTRL, 0, isa.ctrl_addr(reg, m), value)

    async def select(self, model: int) -> None:
        """MODEL_SELECT (only taken while the accelerator is idle: wait for status IDLE)."""
        await self.write(isa.LoadSel.CTRL, 0, isa.ctrl_addr(isa.CtrlReg.MODEL_SELECT), model)

    async def write_image(self, image: RunImage) -> None:
        """Every memory of a program image: per core imem then wmem, then the constants."""
        for core in range(image.config.num_cores):
            await self.write_words(isa.LoadSel.IMEM, core, image.imem_words(core))
            await self.write_words(isa.LoadSel.WMEM, core, image.wmem_words(core))
        await self.write_words(isa.LoadSel.CONST, 0, image.const_words())
