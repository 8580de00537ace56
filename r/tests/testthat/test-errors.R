# Bad input raises a cartkin_input_error whose message is the command line's; R never
# crashes; Ctrl-C stops a trial.

test_that("a broken scenario raises the documented error", {
  e <- tryCatch(simulate_patient('{"name": "broken", "horizon": -1}'), error = identity)
  expect_s3_class(e, "cartkin_input_error")
  expect_s3_class(e, "cartkin_error")
  expect_match(conditionMessage(e), "^<string>: ")
  expect_false(grepl("\n", conditionMessage(e)))
  expect_error(simulate_patient('{"name": "broken", "horizon": -1}'), class = "cartkin_input_error")
})

test_that("the message is the command line's one line", {
  file <- file.path(tempdir(), "broken.json")
  writeLines('{"name": "broken", "horizon": -1}', file)
  err <- run_cli(c("simulate", file), status = 2L)
  e <- tryCatch(simulate_patient(file), error = identity)
  expect_s3_class(e, "cartkin_input_error")
  expect_identical(paste0("error: ", conditionMessage(e)), err)

  study <- file.path(tempdir(), "bad-study.toml")
  writeLines(c('model = "v2"', "patients = 10", "seed = 1", "horizon_days = -5"), study)
  err <- run_cli(c("trial", study, "--out", file.path(tempdir(), "bad-out")), status = 2L)
  e <- tryCatch(run_trial(study), error = identity)
  expect_s3_class(e, "cartkin_input_error")
  expect_identical(paste0("error: ", conditionMessage(e)), err)
})

test_that("every kind of bad input is an R error, not a crash", {
  bad <- list(
    quote(simulate_patient("no/such/file.json")),
    quote(simulate_patient("no-such-study")),
    quote(simulate_patient("{not json")),
    quote(simulate_patient("[1, 2]")),
    quote(simulate_patient("model = 42")),
    quote(simulate_patient(42)),
    quote(simulate_patient(c("a", "b"))),
    quote(simulate_patient(NA_character_)),
    quote(simulate_patient("eliana", patient = -1)),
    quote(simulate_patient("eliana", patient = 1.5)),
    quote(simulate_patient("eliana", patient = 10^6)),
    quote(simulate_patient("eliana", rtol = -1)),
    quote(simulate_patient("eliana", rtol = "a")),
    quote(simulate_patient(file.path(repo_root(), "tests", "data", "S1_nominal.json"), patient = 1)),
    quote(run_trial("eliana", patients = 0)),
    quote(run_trial("eliana", patients = 3e6)),
    quote(run_trial("eliana", patients = NA)),
    quote(run_trial("eliana", threads = 0)),
    quote(run_trial("eliana", threads = 10^6)),
    quote(run_trial("eliana", seed = -1)),
    quote(run_trial("eliana", seed = 2^60)),
    quote(run_trial("eliana", patients = 5, rtol = 0)),
    quote(run_trial(file.path(repo_root(), "tests", "data", "S1_nominal.json"))),
    quote(run_trial("")),
    quote(run_trial("\u00e9t\u00e9 = ["))
  )
  for (call in bad) {
    e <- tryCatch(eval(call), error = identity)
    expect_s3_class(e, "cartkin_input_error")
    expect_true(nzchar(conditionMessage(e)), info = deparse(call))
    expect_false(grepl("\n", conditionMessage(e)), info = deparse(call))
  }
  # and the session goes on
  expect_identical(nrow(run_trial("eliana", patients = 3, seed = 1, threads = 1)$patients), 3L)
})

test_that("models() lists the built-in models, populations and studies", {
  m <- models()
  expect_s3_class(m, "data.frame")
  expect_identical(names(m), c("kind", "name", "model", "description"))
  expect_true(all(c("reference", "v2") %in% m$name[m$kind == "model"]))
  expect_true("eliana" %in% m$name[m$kind == "study"])
  expect_identical(m$model[m$kind == "study" & m$name == "eliana"], "v2")
})

test_that("the column-name mapping", {
  expect_identical(
    cartkin_column_names(c("extinction_day_CD19+CD22+", "extinction_day_CD19-CD22+", "extinction_day_CD19+CD22-",
                           "extinction_day_CD19-CD22-", "L_CD19+", "lnL_CD19dim", "cmax", "id")),
    c("extinction_day_CD19pos_CD22pos", "extinction_day_CD19neg_CD22pos", "extinction_day_CD19pos_CD22neg",
      "extinction_day_CD19neg_CD22neg", "L_CD19pos", "lnL_CD19dim", "cmax", "id")
  )
})

test_that("Ctrl-C (SIGINT) stops a long trial, raising cartkin_interrupted", {
  skip_on_os("windows")
  dir <- tempfile("interrupt")
  dir.create(dir)
  script <- file.path(dir, "run.R")
  writeLines(c(
    "library(cartkin)",
    sprintf('writeLines(as.character(Sys.getpid()), "%s")', file.path(dir, "pid")),
    "t0 <- Sys.time()",
    "r <- tryCatch(run_trial('eliana', patients = 100000, seed = 1, threads = 2),",
    "              interrupt = function(e) paste(class(e), collapse = ' '))",
    "took <- as.double(Sys.time() - t0, units = 'secs')",
    "after <- nrow(run_trial('eliana', patients = 5, seed = 1, threads = 1)$patients)",
    sprintf('writeLines(c(if (is.character(r)) r else "finished", format(took), after), "%s")', file.path(dir, "out"))
  ), script)
  env <- paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep))
  system2(file.path(R.home("bin"), "Rscript"), shQuote(script), env = env, wait = FALSE,
          stdout = file.path(dir, "log"), stderr = file.path(dir, "log"))
  pid_file <- file.path(dir, "pid")
  for (i in 1:300) if (file.exists(pid_file) && length(readLines(pid_file)) == 1L) break else Sys.sleep(0.1)
  expect_true(file.exists(pid_file))
  Sys.sleep(2)  # well into the trial (100,000 patients take minutes)
  t_sent <- Sys.time()
  tools::pskill(as.integer(readLines(pid_file)), tools::SIGINT)
  out_file <- file.path(dir, "out")
  for (i in 1:600) if (file.exists(out_file) && length(readLines(out_file)) == 3L) break else Sys.sleep(0.1)
  waited <- as.double(Sys.time() - t_sent, units = "secs")
  if (!file.exists(out_file) || length(readLines(out_file)) < 3L) {
    tools::pskill(as.integer(readLines(pid_file)), tools::SIGKILL)  # the child we started
    fail(paste("the interrupted run did not end:", paste(readLines(file.path(dir, "log")), collapse = "\n")))
  }
  out <- readLines(out_file)
  expect_identical(out[1L], "cartkin_interrupted interrupt condition")
  expect_lt(as.double(out[2L]), 60)
  expect_lt(waited, 30)
  expect_identical(out[3L], "5")
})
