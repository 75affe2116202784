"""``python -m magflow.emag_sim``: the simulator's subprocess entry point (config in the
``MAGFLOW_SIM_CONFIG`` environment variable, see :func:`magflow.emag_sim.server.main`)."""

from magflow.emag_sim.server import main

main()
