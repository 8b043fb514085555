"""Interoperation with deep-learning frameworks.

* :func:`jacobians.interop.torch.from_torch` — a PyTorch ``nn.Module``, traced with
  ``torch.fx``, as a chain of explicit sparse Jacobians of registered operators.
* :func:`jacobians.interop.framework.framework_jacobian` — a framework's own Jacobian of
  a function as scipy CSR, by column compression over a known sparsity pattern
  (:mod:`jacobians.interop.coloring`).

Nothing here imports torch until it is used; ``import jacobians`` never does.
"""
