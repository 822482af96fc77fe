#include "dark_palette.h"

#include <QApplication>
#include <QPalette>
#include <QStyleFactory>

namespace optiscope::ui {

QPalette darkPalette() {
  const QColor window(0x2B, 0x2D, 0x31);
  const QColor base(0x1E, 0x1F, 0x22);
  const QColor text(0xE6, 0xE6, 0xE6);
  const QColor muted(0x9A, 0x9A, 0x9A);
  const QColor accent(0x3D, 0x8E, 0xD8);
  QPalette p;
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(0x26, 0x28, 0x2C));
  p.setColor(QPalette::ToolTipBase, QColor(0x33, 0x35, 0x3A));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, muted);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(0x35, 0x37, 0x3C));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(0xFF, 0x6B, 0x6B));
  p.setColor(QPalette::Link, QColor(0x6C, 0xB4, 0xF0));
  p.setColor(QPalette::LinkVisited, QColor(0xB0, 0x8C, 0xE8));
  p.setColor(QPalette::Highlight, accent);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Light, QColor(0x4A, 0x4C, 0x52));
  p.setColor(QPalette::Midlight, QColor(0x3E, 0x40, 0x45));
  p.setColor(QPalette::Mid, QColor(0x25, 0x26, 0x29));
  p.setColor(QPalette::Dark, QColor(0x18, 0x19, 0x1B));
  p.setColor(QPalette::Shadow, Qt::black);
  for (const auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x7A, 0x7A, 0x7A));
  p.setColor(QPalette::Disabled, QPalette::Base, window);
  return p;
}

void useDarkScheme(QApplication& app) {
  app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
  app.setPalette(darkPalette());
}

}  // namespace optiscope::ui
