# simulate_patient against the shared reference (tests/data/S1_nominal*, a copy of the
# project's reference data) and against the command line.
#
# Bounds: those of tests/reference.rs (tests/common/mod.rs, TIGHT and DEFAULT, from
# tests/data/README.md "Tolerances to expect from another implementation"): discrete
# endpoints and the event log's kinds exact; continuous amounts 1e-6 relative (cell counts
# also 1 cell absolute) at rtol 1e-9, 1e-3 relative (1e3 cells) at the default tolerance;
# extinction days and cure_day 1e-5 / 1e-2 day; times of maxima 1e-4 / 0.1 day; crossing
# times max(c, c / |d ln y/dt|) with c = 1e-6 / 1e-3 day: here c alone, a stricter bound
# (the slope can only widen it).

s1_bounds <- list(
  tight = list(rtol = 1e-9, rel = 1e-6, cells = 1, cross = 1e-6, ext = 1e-5, tmax = 1e-4),
  default = list(rtol = NULL, rel = 1e-3, cells = 1e3, cross = 1e-3, ext = 1e-2, tmax = 0.1)
)

cell_counts <- c("cmax", "auc28", "Ltot_day28", "B_day28", "C_end", "M_end", "B_end", "Ltot_end")
amounts <- c(cell_counts, "cmax_copies", "peak_il6", "peak_ifng", "peak_signal", "f_day28")
maxima <- c("tmax", "t_peak_il6", "t_peak_ifng", "t_peak_signal")
crossings <- c("relapse_day", "efs_event_day", "crs_onset_day", "crs_threshold_days", "toci_days",
               "steroid_day", "b_recovery_day")
discrete <- c("cr_day28", "mrd_neg_day28", "relapse_phenotype", "cd19_negative_relapse", "efs_censored",
              "cured", "crs_grade")

expect_near <- function(got, want, bound, what) {
  expect_identical(is.na(got), is.na(want), info = what)
  ok <- !is.na(want)
  err <- abs(got[ok] - want[ok])
  expect_true(all(err <= bound), info = sprintf("%s: |diff| %s > bound %s", what,
                                                paste(format(err), collapse = " "), format(bound)))
}

for (level in names(s1_bounds)) {
  test_that(paste("S1's endpoints and events match the reference at the", level, "tolerance"), {
    b <- s1_bounds[[level]]
    ref <- read_cartkin_json(repo_file("tests", "data", "S1_nominal_endpoints.json"))
    res <- simulate_patient(repo_file("tests", "data", "S1_nominal.json"), rtol = b$rtol)
    got <- res$endpoints
    want <- ref$endpoints
    expect_identical(names(got), names(want))
    expect_true(got$crs_grade == 3)
    for (k in discrete) expect_identical(got[[k]], want[[k]], info = k)
    for (k in amounts) {
      floor <- if (k %in% cell_counts) b$cells else 0
      expect_near(got[[k]], want[[k]], max(b$rel * abs(want[[k]]), floor), k)
    }
    for (k in maxima) expect_near(got[[k]], want[[k]], b$tmax, k)
    for (k in crossings) expect_near(unlist(got[[k]]), unlist(want[[k]]), b$cross, k)
    expect_identical(names(got$extinction_days), names(want$extinction_days))
    expect_near(unlist(got$extinction_days), unlist(want$extinction_days), b$ext, "extinction_days")
    expect_near(got$cure_day, want$cure_day, b$ext, "cure_day")
    # the event log: the same kinds in the same order, times within the crossing bound
    ev <- res$events
    expect_identical(ev$kind, vapply(ref$events, `[[`, "", "kind"))
    expect_near(ev$day, vapply(ref$events, `[[`, 0, "t"), b$cross, "event times")
    expect_identical(ev$phenotype[ev$kind == "extinction"], "CD19+CD22+")
    expect_identical(ev$cells[1L], 1e8)
  })
}

test_that("simulate_patient equals the command line's files", {
  out <- file.path(tempdir(), "cli-s1")
  unlink(out, recursive = TRUE)
  run_cli(c("simulate", repo_file("tests", "data", "S1_nominal.json"), "--out", out))
  res <- simulate_patient(repo_file("tests", "data", "S1_nominal.json"))
  expect_identical(res$document, read_cartkin_json(file.path(out, "S1_nominal_endpoints.json")))
  expect_identical(res$trajectory, read_cartkin_csv(file.path(out, "S1_nominal_trajectory.csv")))
  traj <- read.csv(file.path(out, "S1_nominal_trajectory.csv"), check.names = FALSE)
  text <- read.csv(file.path(out, "S1_nominal_trajectory.csv"), check.names = FALSE, colClasses = "character")
  expect_identical(names(res$trajectory), cartkin_column_names(names(traj)))
  expect_true(all(c("L_CD19pos_CD22pos", "L_CD19neg_CD22pos") %in% names(res$trajectory)))
  for (j in seq_along(traj)) expect_column_equal(names(traj)[j], res$trajectory[[j]], as.double(traj[[j]]), text[[j]])
})

test_that("a study's patient equals cartkin simulate STUDY --patient N", {
  out <- file.path(tempdir(), "cli-eliana-3")
  unlink(out, recursive = TRUE)
  run_cli(c("simulate", "eliana", "--patient", "3", "--out", out))
  res <- simulate_patient("eliana", patient = 3)
  doc <- read_cartkin_json(file.path(out, "eliana_patient3_endpoints.json"))
  expect_identical(res$document, doc)
  expect_identical(names(doc)[1:5], c("study", "model", "seed", "patient", "horizon_days"))
  expect_identical(names(res$endpoints), cartkin_column_names(names(doc$endpoints)))
  expect_identical(res$endpoints$extinction_day_CD19pos_CD22pos, doc$endpoints[["extinction_day_CD19+CD22+"]])
  expect_identical(res$trajectory, read_cartkin_csv(file.path(out, "eliana_patient3_trajectory.csv")))
})

test_that("a scenario given as JSON text equals the file", {
  path <- repo_file("tests", "data", "S1_nominal.json")
  a <- simulate_patient(paste(readLines(path, warn = FALSE), collapse = "\n"))
  b <- simulate_patient(path)
  expect_identical(a$endpoints, b$endpoints)
  expect_identical(a$trajectory, b$trajectory)
})

test_that("JSON nulls are NA, arrays of scalars vectors, objects named lists", {
  v <- cartkin:::rs_json_value('{"a": null, "b": [1, null, 2.5], "c": ["x", null], "d": {"e": true}, "f": [], "g": [1, "x"], "h": 0.1}')
  expect_identical(v$a, NA)
  expect_identical(v$b, c(1, NA, 2.5))
  expect_identical(v$c, c("x", NA))
  expect_identical(v$d, list(e = TRUE))
  expect_identical(v$f, list())
  expect_identical(v$g, list(1, "x"))
  expect_identical(v$h, 0.1)
  expect_identical(names(v), c("a", "b", "c", "d", "f", "g", "h"))
})

test_that("JSON numbers are the exact doubles of the text (R's own parser is not always)", {
  # the doubles nearest to these decimals, written exactly in hexadecimal (Python's
  # float.hex); R's as.numeric() of the first three is one ulp off
  x <- c("7.777368886412797", "3.186925213368623", "3.014046344719379e-8", "0.1")
  hex <- c("0x1.f1c0696e0489bp+2", "0x1.97ed2a571ba7dp+1", "0x1.02e7947e62c35p-25", "0x1.999999999999ap-4")
  v <- cartkin:::rs_json_value(paste0("[", paste(x, collapse = ", "), "]"))
  expect_identical(v, as.numeric(hex))
  expect_true(all(mapply(same_double, x, v)))
  # the check of the tests' exact comparison: R's parse is the farther of the two
  r <- as.numeric(x[1:3])
  expect_false(any(r == v[1:3]))
  expect_true(all(mapply(nearer, x[1:3], v[1:3], r)))
  expect_false(any(mapply(nearer, x[1:3], r, v[1:3])))
})
