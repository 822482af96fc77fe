#pragma once
// One fixed colour per optimizer variant, so adamw_8bit looks the same in every chart, every
// comparison and every exported figure. Okabe-Ito colours: told apart by colour-blind readers and
// still distinct when printed in grey.
#include <QColor>
#include <QString>

namespace optiscope::ui {

/// The colour of a variant; names the palette does not list get a stable colour from their text.
QColor variantColor(const QString& optim);

}  // namespace optiscope::ui
