"""A stand-in for MLE-bench's package with the two entry points mletui calls, in their public
shapes (``mlebench.registry.registry.set_data_dir(...).get_competition(id)`` and
``mlebench.grade.grade_csv(path, competition).to_dict()``): accuracy against
``<data>/<id>/prepared/private/answers.csv``, with a made-up four-team leaderboard."""
