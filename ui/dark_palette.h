#pragma once
// A dark colour scheme for desktops without one (and for the documentation's dark screenshots):
// the Fusion style with a dark palette. Charts follow the palette by themselves (paper_style.h).
class QApplication;
class QPalette;

namespace optiscope::ui {

QPalette darkPalette();
/// Switches the whole application to Fusion with darkPalette().
void useDarkScheme(QApplication& app);

}  // namespace optiscope::ui
