#include "charts/memory_categories.h"

#include <QPainter>
#include <QPixmap>

namespace optiscope::ui {

const std::vector<MemoryCategory>& memoryCategories() {
  // Colours chosen apart from the variant colours (those mark runs, these mark categories).
  static const std::vector<MemoryCategory> all = {
      {QStringLiteral("parameters"), QStringLiteral("The model's weights"), QColor(0x4C, 0x72, 0xB0),
       Qt::SolidPattern, true, [](const MemorySample& s) { return s.parameters; }},
      {QStringLiteral("gradients"), QStringLiteral("One gradient per weight"), QColor(0x55, 0xA8, 0x68),
       Qt::SolidPattern, true, [](const MemorySample& s) { return s.gradients; }},
      {QStringLiteral("optimizer state"), QStringLiteral("AdamW moments in ordinary device memory"),
       QColor(0xC4, 0x4E, 0x52), Qt::SolidPattern, true,
       [](const MemorySample& s) { return s.optimizer_device; }},
      {QStringLiteral("paged state, resident"),
       QStringLiteral("Paged (managed) optimizer state that is on the device right now. The driver "
                      "keeps it there while memory is free and evicts it when memory runs short, so a "
                      "larger figure here means more room was free, not a larger need."),
       QColor(0xC4, 0x4E, 0x52), Qt::BDiagPattern, true,
       [](const MemorySample& s) { return s.optimizer_paged_resident; }},
      {QStringLiteral("activations"),
       QStringLiteral("Activations and temporaries: the rest the allocator handed out"),
       QColor(0x81, 0x72, 0xB2), Qt::SolidPattern, true, [](const MemorySample& s) { return s.activations; }},
      {QStringLiteral("allocator cache"), QStringLiteral("Reserved by the caching allocator but free"),
       QColor(0xCC, 0xB9, 0x74), Qt::SolidPattern, true,
       [](const MemorySample& s) { return s.allocator_cache; }},
      {QStringLiteral("CUDA context"),
       QStringLiteral("This process's CUDA context and libraries, measured once (the driver's used memory "
                      "before and after the context was made)"),
       QColor(0x7F, 0x7F, 0x7F), Qt::SolidPattern, true, [](const MemorySample& s) { return s.context; }},
      {QStringLiteral("other"),
       QStringLiteral("What nothing explains: the driver's used memory minus every category above and the "
                      "driver cache (in stores older than schema 3 it also holds the context)"),
       QColor(0xB8, 0xB8, 0xB8), Qt::SolidPattern, true,
       [](const MemorySample& s) { return s.other_device; }},
      {QStringLiteral("driver cache, reclaimable"), driverCacheExplanation(), QColor(0x6E, 0x6E, 0x6E),
       Qt::Dense6Pattern, true, [](const MemorySample& s) { return s.driver_cache; }, true},
      {QStringLiteral("paged state, on host"),
       QStringLiteral("Paged optimizer state now in host memory: not device memory"),
       QColor(0xDD, 0x84, 0x52), Qt::FDiagPattern, false,
       [](const MemorySample& s) { return s.optimizer_paged_host; }},
      {QStringLiteral("offloaded state (pinned host)"),
       QStringLiteral("Optimizer state kept in pinned host memory"), QColor(0x93, 0x78, 0x60),
       Qt::Dense4Pattern, false, [](const MemorySample& s) { return s.optimizer_pinned_host; }},
  };
  return all;
}

QString driverCacheExplanation() {
  return QStringLiteral(
      "Driver cache, reclaimable: device memory the CUDA driver still holds for evicted paged state; it "
      "gives it back to the next allocation that needs it, so it is no part of any peak or fit verdict.");
}

std::int64_t hostBytes(const MemorySample& s) {
  return s.optimizer_paged_host + s.optimizer_pinned_host;
}

QBrush categoryBrush(const MemoryCategory& c) {
  if (c.pattern == Qt::SolidPattern) return QBrush(c.color);
  // Dots, not a fill: present on the card, but no part of the run's need.
  if (c.reclaimable) return QBrush(c.color.lighter(130), Qt::Dense5Pattern);
  // Hatching on a light tint of the colour, as a texture: the gaps between the lines stay opaque,
  // so what lies behind does not show through and blend into another category.
  QPixmap tile(10, 10);
  tile.fill(c.color.lighter(165));
  QPainter painter(&tile);
  painter.setRenderHint(QPainter::Antialiasing);
  painter.setPen(QPen(c.color, 2.0));
  if (c.pattern == Qt::BDiagPattern) {
    painter.drawLine(QPointF(-1, 11), QPointF(11, -1));
    painter.drawLine(QPointF(-6, 6), QPointF(6, -6));
    painter.drawLine(QPointF(4, 16), QPointF(16, 4));
  } else if (c.pattern == Qt::FDiagPattern) {
    painter.drawLine(QPointF(-1, -1), QPointF(11, 11));
    painter.drawLine(QPointF(4, -6), QPointF(16, 6));
    painter.drawLine(QPointF(-6, 4), QPointF(6, 16));
  } else {
    painter.drawLine(QPointF(0, 5), QPointF(10, 5));
    painter.drawLine(QPointF(5, 0), QPointF(5, 10));
  }
  painter.end();
  return QBrush(tile);
}

}  // namespace optiscope::ui
