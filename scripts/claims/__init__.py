"""The lecture's claims as checks (lecture "Stateful DNNs", TU Berlin).

Each module computes one claim's evidence with a seeded, budgeted run (``run(budget)``),
judges it (``verdict``: holds or not, with the numbers) and names the deliberate breaks of
the mechanism that its check must catch (``BREAKS``); see :mod:`stateful_rl.claims.base`.
``python -m stateful_rl.report.seed_claims`` renders them into ``docs/seed_claims.md``.
"""

from types import ModuleType

from stateful_rl.claims import (
    agents,
    cpg_gaits,
    echo_state,
    esn_kernel,
    euler_rnn,
    gradients,
    hmm_rnn,
    linear_esn,
    lrp_cue,
    recall_race,
    reservoir_settings,
    tracking,
)

CLAIMS: dict[int, ModuleType] = {
    module.NUMBER: module
    for module in (
        tracking,
        euler_rnn,
        gradients,
        echo_state,
        recall_race,
        lrp_cue,
        cpg_gaits,
        agents,
        esn_kernel,
        linear_esn,
        reservoir_settings,
        hmm_rnn,
    )
}
