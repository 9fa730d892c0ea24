"""Kernel knowledge, one subsystem per module (tasks, stacks, printk, modules, symbols, ...).

Each module holds small documented functions over a session or a drgn Program, and decides the
kernel-version differences of its subsystem in one place, from the dump's types and VMCOREINFO.
"""
