# Undoes attaches: for every disk that has an access path below `folder`, or that is listed by
# identity, removes those access paths and takes the disk offline again; then removes the empty
# folders. Idempotent: disks already offline or gone, and missing folders, are fine. Never touches a
# boot or system disk.
# Argument (JSON): { "folder": string, "disks": [ { "uniqueId": string, "serial": string|null } ] }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json
$folder = ([string]$in.folder).TrimEnd('\')
$prefix = $folder + '\'
$wanted = @($in.disks)
$done = @()
foreach ($disk in @(Get-Disk)) {
  if ($disk.IsBoot -or $disk.IsSystem) { continue }
  $listed = @($wanted | Where-Object { ([string]$_.uniqueId -and [string]$disk.UniqueId -eq [string]$_.uniqueId) -or ($_.serial -and ([string]$disk.SerialNumber).Trim() -eq [string]$_.serial) }).Count -gt 0
  $removedPaths = @()
  if (-not $disk.IsOffline) {
    foreach ($part in @(Get-Partition -DiskNumber $disk.Number -ErrorAction SilentlyContinue)) {
      foreach ($ap in @($part.AccessPaths)) {
        if (([string]$ap).StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)) {
          Remove-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $part.PartitionNumber -AccessPath ([string]$ap)
          $removedPaths += [string]$ap
        }
      }
    }
  }
  if (-not $listed -and $removedPaths.Count -eq 0) { continue }
  if (-not $disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $true }
  $done += [ordered]@{ number = $disk.Number; uniqueId = [string]$disk.UniqueId; removedPaths = $removedPaths }
}
if (Test-Path -LiteralPath $folder) {
  Get-ChildItem -LiteralPath $folder -Directory | Where-Object { @(Get-ChildItem -LiteralPath $_.FullName -Force).Count -eq 0 } | Remove-Item
  if (@(Get-ChildItem -LiteralPath $folder -Force).Count -eq 0) { Remove-Item -LiteralPath $folder }
}
ConvertTo-Json -Depth 4 -Compress -InputObject ([ordered]@{ disks = $done })
