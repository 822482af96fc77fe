#pragma once
#include <ostream>
#include <vector>

#include "store/store.h"

namespace optiscope::cli {

/// One row per run and step; header: run,comparison,optim,outcome,step,loss,lr,step_ms,tokens,mem_bytes.
void write_steps_csv(const Store& store, const std::vector<RunInfo>& runs, std::ostream& out);

}  // namespace optiscope::cli
