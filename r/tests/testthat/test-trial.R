# run_trial against the command line: the ELIANA study, 1,000 patients, seed 5, 2 threads.

cli_trial <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      out <- file.path(tempdir(), "cli-eliana")
      unlink(out, recursive = TRUE)
      run_cli(c("trial", repo_file("studies", "eliana.toml"), "--patients", "1000", "--seed", "5",
                "--threads", "2", "--out", out, "--quiet"))
      cache <<- out
    }
    cache
  }
})

r_trial <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      cache <<- run_trial(repo_file("studies", "eliana.toml"), patients = 1000, seed = 5, threads = 2)
    }
    cache
  }
})

test_that("the summary equals the command line's summary.json, value for value", {
  out <- cli_trial()
  res <- r_trial()
  file <- file.path(out, "summary.json")
  cli <- read_cartkin_json(file)
  expect_identical(names(res$summary), names(cli))
  for (k in names(cli)) expect_identical(res$summary[[k]], cli[[k]], info = k)
  expect_identical(res$summary, cli)
  # independently of the package's JSON reader: every top-level number of the file's text,
  # parsed by R (see same_double for R's parser)
  lines <- readLines(file)
  m <- regmatches(lines, regexec('^  "([^"]+)": (-?[0-9][0-9.eE+-]*),?$', lines))
  m <- m[lengths(m) == 3L]
  expect_gt(length(m), 50L)
  for (x in m) expect_true(same_double(x[3L], res$summary[[x[2L]]]), info = x[2L])
  expect_identical(res$summary$n_patients, 1000)
  expect_identical(res$summary$n_failed, 0)
})

test_that("the patients table equals the command line's patients.csv, column for column", {
  out <- cli_trial()
  res <- r_trial()
  file <- file.path(out, "patients.csv")
  cli <- read.csv(file, check.names = FALSE, stringsAsFactors = FALSE, na.strings = "")
  text <- read.csv(file, check.names = FALSE, colClasses = "character", na.strings = "")
  p <- res$patients
  expect_s3_class(p, "data.frame")
  expect_identical(nrow(p), 1000L)
  expect_identical(names(p), cartkin_column_names(names(cli)))
  expect_identical(p[["cmax"]], cli[["cmax"]])
  off <- 0L
  for (j in seq_along(cli)) {
    name <- names(p)[j]
    if (is.character(p[[j]])) {
      expect_identical(p[[j]], as.character(cli[[j]]), info = name)
    } else {
      expect_type(p[[j]], "double")
      off <- off + expect_column_equal(name, p[[j]], as.double(cli[[j]]), text[[j]])
    }
  }
  # the same table through the package's CSV reader is identical
  expect_identical(read_cartkin_csv(file), p)
  if (off > 0L) message(sprintf("patients.csv: %d cells where read.csv is 1 ulp off the file's decimal", off))
})

test_that("1 and 2 threads give identical results", {
  a <- run_trial("eliana", patients = 300, seed = 11, threads = 1)
  b <- run_trial("eliana", patients = 300, seed = 11, threads = 2)
  expect_identical(a, b)
  expect_identical(nrow(a$patients), 300L)
})

test_that("a study given as TOML text runs as from its file", {
  toml <- paste(readLines(repo_file("studies", "eliana.toml")), collapse = "\n")
  a <- run_trial(toml, patients = 50, seed = 2, threads = 1)
  b <- run_trial(repo_file("studies", "eliana.toml"), patients = 50, seed = 2, threads = 1)
  expect_identical(a, b)
})

test_that("a study's patient is the same through simulate_patient and run_trial", {
  res <- run_trial("eliana", patients = 10, seed = 7, threads = 1)
  one <- simulate_patient(paste(sub("^seed = .*$", "seed = 7", readLines(repo_file("studies", "eliana.toml"))),
                                collapse = "\n"), patient = 4)
  expect_identical(one$document$seed, 7)
  for (k in c("cmax", "tmax", "auc28", "extinction_day_CD19pos_CD22pos", "relapse_day", "crs_grade")) {
    v <- one$endpoints[[k]]
    if (is.logical(v)) v <- as.double(v)
    expect_identical(v, res$patients[[k]][5L], info = k)
  }
})
