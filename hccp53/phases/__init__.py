"""Phase identification: which stack of a liver MRI study is T2, pre, ap, pvp, dp and hbp.

``identify_phases(study)`` classifies every stack of a loaded study, labels the dynamic T1
stacks from their descriptions, acquisition times and order, and chooses one stack per phase
with a reason and a confidence; the rules live in ``configs/phase_rules.yaml``.
"""

from hccp53.phases.identify import identify_phases
from hccp53.phases.result import InjectionTime, PhaseChoice, PhaseError, PhaseResult
from hccp53.phases.rules import DEFAULT_RULES_PATH, PhaseRules, load_rules

__all__ = ["DEFAULT_RULES_PATH", "InjectionTime", "PhaseChoice", "PhaseError", "PhaseResult", "PhaseRules",
           "identify_phases", "load_rules"]
