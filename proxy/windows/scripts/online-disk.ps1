# Makes one presented disk read-only, then brings it online (two Set-Disk calls: IsReadOnly and
# IsOffline are in different parameter sets), and lists its partitions. Disk numbers are not
# stable, so the disk is checked to still carry the expected UniqueId/SerialNumber first.
# Argument (JSON): { "number": int, "uniqueId": string, "serial": string|null }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json

function Stop-Hvsnap([string]$Code, [string]$Message) {
  $ex = [System.Exception]::new($Message)
  $ex.Data['hvsnap'] = @{ kind = 'hvsnap'; code = $Code; disk = [string]$in.number }
  throw $ex
}

$disk = Get-Disk -Number ([int]$in.number)
if ([string]$disk.UniqueId -ne [string]$in.uniqueId -and -not ($in.serial -and ([string]$disk.SerialNumber).Trim() -eq [string]$in.serial)) {
  Stop-Hvsnap 'proxy_failed' "disk $($in.number) is now $($disk.UniqueId), not $($in.uniqueId): the disk numbering changed; retry the attach"
}
if ($disk.IsBoot -or $disk.IsSystem) { Stop-Hvsnap 'proxy_failed' "disk $($in.number) is a boot or system disk of this host" }
$wasReadOnly = [bool]$disk.IsReadOnly
$wasOffline = [bool]$disk.IsOffline
if (-not $wasReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $true }
if ($wasOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
$disk = Get-Disk -Number $disk.Number
if (-not $disk.IsReadOnly) { Stop-Hvsnap 'proxy_failed' "disk $($in.number) did not become read-only" }
if ($disk.IsOffline) { Stop-Hvsnap 'proxy_failed' "disk $($in.number) did not come online (OfflineReason $($disk.OfflineReason))" }
$parts = @(Get-Partition -DiskNumber $disk.Number -ErrorAction SilentlyContinue | ForEach-Object {
  $letter = if ($_.DriveLetter -and [int][char]$_.DriveLetter -ne 0) { [string]$_.DriveLetter } else { $null }
  [ordered]@{
    PartitionNumber = $_.PartitionNumber
    GptType         = [string]$_.GptType
    MbrType         = $_.MbrType
    Offset          = $_.Offset
    Size            = $_.Size
    DriveLetter     = $letter
    AccessPaths     = @($_.AccessPaths | ForEach-Object { [string]$_ })
  }
})
ConvertTo-Json -Depth 5 -Compress -InputObject ([ordered]@{
  number = $disk.Number; wasReadOnly = $wasReadOnly; wasOffline = $wasOffline; partitions = $parts
})
