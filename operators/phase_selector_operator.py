"""PhaseSelectorOperator: a study in, the selected series per contrast phase out."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import select_phases
from hccp53.predictor import Predictor
from operators.failures import reports_errors


class PhaseSelectorOperator(Operator):
    """Identifies t2 / pre / ap / pvp / dp / hbp with the rules of ``configs/phase_rules.yaml``
    (:func:`hccp53.deploy.select_phases`).

    A phase the model needs that is missing stops the app with one sentence (a
    :class:`hccp53.phases.PhaseError`).

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.

    Named outputs:
        phases: :class:`hccp53.phases.identify.PhaseResult` (choice, reason and confidence per phase).
        study: the input study, passed on for the volume builder.
    """

    INPUT_STUDY = "study"
    OUTPUT_PHASES = "phases"
    OUTPUT_STUDY = "study_out"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.output(self.OUTPUT_PHASES)
        spec.output(self.OUTPUT_STUDY)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        op_output.emit(select_phases(study, self.predictor), self.OUTPUT_PHASES)
        op_output.emit(study, self.OUTPUT_STUDY)
